// The security core that `npm run mutation` measures (issue 19), in groups run one after another,
// so a group can be re-measured alone: `npm run mutation -- atproto`.
export const MUTATION_GROUPS = {
  atproto: ['src/atproto/**/*.ts'],
  identity: ['src/identity/plc-audit-log.ts'],
  registry: ['src/registry/reference.ts'],
  // The ajv standalone validator is generated from schemas/ (scripts/build.mjs), not written here.
  policy: ['src/policy/**/*.ts', '!src/policy/**/*.generated.*'],
  net: ['src/net/**/*.ts'],
  verify: ['src/verify/**/*.ts'],
};
