import { AWS_SDK_NODE_WARNING_SWITCH, nodeVersionNote } from '../../src/common/node-version';

describe('the Node version note printed at start-up', () => {
  it('on Node 20: one line recommending Node 22 and why, and the SDK warning switched off through its documented variable', () => {
    const env: NodeJS.ProcessEnv = {};
    const note = nodeVersionNote('v20.20.2', env);
    expect(note).toMatch(/^Node v20\.20\.2: Node 22 is recommended, because AWS SDK for JavaScript releases after the first week of January 2027 require it/);
    expect(note).not.toContain('\n');
    expect(env[AWS_SDK_NODE_WARNING_SWITCH]).toBe('true');
  });

  it("keeps the operator's own setting of the switch, and says which it is", () => {
    const env: NodeJS.ProcessEnv = { [AWS_SDK_NODE_WARNING_SWITCH]: 'false' };
    expect(nodeVersionNote('v20.19.0', env)).toContain(`${AWS_SDK_NODE_WARNING_SWITCH}=false`);
    expect(env[AWS_SDK_NODE_WARNING_SWITCH]).toBe('false');
  });

  it('on Node 22 and later: nothing printed, nothing changed', () => {
    for (const version of ['v22.0.0', 'v22.21.1', 'v24.1.0']) {
      const env: NodeJS.ProcessEnv = {};
      expect(nodeVersionNote(version, env)).toBeUndefined();
      expect(env).toEqual({});
    }
  });
});
