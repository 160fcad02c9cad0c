import { Kind, parse, visit, type ASTNode, type GraphQLError } from 'graphql';

/**
 * Names the input field behind a graphql-js input error, so that clients get `BAD_USER_INPUT` with
 * `extensions.field` (e.g. `data.interval`) whether the bad value came as a variable (the CLI) or
 * as a literal in the document (the seed's examples), as our own validation does.
 */

/** graphql-js messages about a wrong input value (ValuesOfCorrectTypeRule and variable coercion). */
const INPUT_VALUE_MESSAGES = [
  /does not exist in "[^"]+" enum/,
  /cannot represent/,
  /^Expected value of type/,
  /^Field "[^"]+" is not defined by type/,
  /^Field "[^"]+" of required type "[^"]+" was not provided/,
];

/** For a variable-coercion error: the field path, from `at "data.x"` or from the reason. */
export function variableErrorField(message: string, reason: string | undefined): string | undefined {
  const at = / at "([^"]*)"; /.exec(message)?.[1] ?? /^Variable "\$([^"]+)" got invalid value;/.exec(message)?.[1];
  return at === undefined ? undefined : withFieldFromReason(at, reason ?? '');
}

/**
 * For a document validation error about a literal input value: the path of argument and object
 * fields down to the offending value (`data.interval`), or undefined when the error is about
 * something else.
 */
export function literalErrorField(error: GraphQLError): string | undefined {
  const target = error.nodes?.[0];
  if (!target?.loc || !error.source || !INPUT_VALUE_MESSAGES.some((pattern) => pattern.test(error.message))) return undefined;
  const stack: string[] = [];
  let found: string | undefined;
  const isNamed = (node: ASTNode) => node.kind === Kind.ARGUMENT || node.kind === Kind.OBJECT_FIELD;
  visit(parse(error.source), {
    enter(node) {
      if (found !== undefined) return false;
      if (isNamed(node)) stack.push((node as { name: { value: string } }).name.value);
      if (node.kind === target.kind && node.loc?.start === target.loc?.start && stack.length > 0) found = stack.join('.');
      return undefined;
    },
    leave(node) {
      if (isNamed(node)) stack.pop();
    },
  });
  return found === undefined ? undefined : withFieldFromReason(found, error.message);
}

/** `Field "X.bucket" of required type ... was not provided` / `Field "foo" is not defined`: append the field. */
function withFieldFromReason(path: string, reason: string): string {
  const missing = /^Field "(?:[^".]+\.)?([^".]+)" of required type/.exec(reason)?.[1];
  const unknown = /^Field "([^"]+)" is not defined by type/.exec(reason)?.[1];
  const field = missing ?? unknown;
  return field && !path.endsWith(`.${field}`) ? `${path}.${field}` : path;
}
