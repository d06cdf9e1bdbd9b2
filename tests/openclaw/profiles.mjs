// OpenClaw's own auth profile bookkeeping (2026.9.x), as a gateway runs it:
// `persistAuthProfileBatch` stores the profiles (the login path), and
// `markAuthProfileFailure` records a failed refresh in their state. Needs
// node:sqlite: run it with the Node install.sh puts beside the releases.
// OPENCLAW_STATE_DIR is the caller's.
// Usage: node profiles.mjs INSTALL_DIR STEP [PROFILE_ID:REASON ...]
//   store:    stores each profile (oauth, sentinel tokens; provider = the id's
//             prefix), then marks each failed with REASON (auth_permanent, auth, ...)
//   relogin:  stores each profile again with resetFailureState, as
//             `openclaw models auth login` does
// Prints one JSON line {step, profiles}, then exits without closing
// OpenClaw's database, as a gateway that is killed: what it wrote last is
// only in the -wal.
import { loadDistFunction } from "./lockapi.mjs";

const SENTINEL = "SENTINEL-TOKEN-never-printed";

const [installDir, step, ...specs] = process.argv.slice(2);
const profiles = specs.map((spec) => {
  const at = spec.lastIndexOf(":");
  const profileId = spec.slice(0, at);
  const provider = profileId.slice(0, profileId.indexOf(":"));
  const credential = {
    type: "oauth",
    provider,
    access: `${SENTINEL}-access-${step}`,
    refresh: `${SENTINEL}-refresh-${step}`,
    expires: Date.now() + 3_600_000,
  };
  return { profileId, credential, reason: spec.slice(at + 1) };
});
const { fn: persistAuthProfileBatch } = await loadDistFunction(installDir, "persistAuthProfileBatch");
const batch = profiles.map(({ profileId, credential }) => ({ profileId, credential }));
if (step === "store") {
  await persistAuthProfileBatch({ profiles: batch });
  const { fn: markAuthProfileFailure } = await loadDistFunction(installDir, "markAuthProfileFailure");
  // markAuthProfileFailure reads the profile from the store it is given and
  // writes the failure into the persisted state.
  const store = { version: 1, profiles: Object.fromEntries(batch.map((p) => [p.profileId, p.credential])) };
  for (const { profileId, reason } of profiles) await markAuthProfileFailure({ store, profileId, reason });
} else if (step === "relogin") {
  await persistAuthProfileBatch({ profiles: batch, resetFailureState: true, allowOAuthGenerationReplacement: true });
} else {
  throw new Error(`profiles.mjs: unknown step ${step}`);
}
process.stdout.write(`${JSON.stringify({ step, profiles: profiles.map((p) => p.profileId) })}\n`);
process.exit(0);
