/**
 * The Node.js version note printed once at start-up.
 *
 * The AWS SDK for JavaScript v3 prints a nine-line `NodeVersionSupportWarning` on Node < 22 (its
 * releases after the first week of January 2027 require Node >= 22). The SDK documents
 * `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true` as the switch that turns it off
 * (https://github.com/aws/aws-sdk-js-v3/issues/7983). We set that switch, unless the operator set
 * it either way, and say the same thing in one line of our own instead, so the fact is not lost.
 */

/** The Node.js major version recommended, and the one the AWS SDK will require. */
export const RECOMMENDED_NODE_MAJOR = 22;

/** The AWS SDK's own, documented switch for its Node version warning. */
export const AWS_SDK_NODE_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * On Node < 22: silences the SDK's warning (unless `env` already sets the switch) and returns the
 * one line to print; on Node 22 and later, returns undefined and changes nothing. Call it before
 * the first AWS client is created: the SDK checks the switch then.
 */
export function nodeVersionNote(version: string = process.version, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (!(major < RECOMMENDED_NODE_MAJOR)) return undefined;
  if (env[AWS_SDK_NODE_WARNING_SWITCH] === undefined) env[AWS_SDK_NODE_WARNING_SWITCH] = 'true';
  return (
    `Node ${version}: Node ${RECOMMENDED_NODE_MAJOR} is recommended, because AWS SDK for JavaScript releases after the first week of January 2027 require it ` +
    `(the SDK's own warning is off: ${AWS_SDK_NODE_WARNING_SWITCH}=${env[AWS_SDK_NODE_WARNING_SWITCH]}; set it to false to see it)`
  );
}
