// `npm run mutation [-- group... [--force]]`: StrykerJS over the security core (issue 19), one file
// group after another (scripts/mutation-groups.mjs), then bench/MUTATION.md from the JSON reports.
//
// Stryker needs Node >= 22, the project supports 20: Stryker runs on the pinned Node 24 runtime
// that the executables embed (scripts/node-runtime.mjs), whichever Node runs this script. Not a root
// devDependency: that would link node_modules/.bin/node and run every npm script on Node 24.
// Each group keeps its own incremental file (reports/mutation/incremental-<group>.json), so
// re-measuring one group reuses nothing stale and costs nothing for the others; `--force` ignores it.
// A group not run this time keeps its last measured row (with its date) in bench/mutation-summary.json.
// The incremental files are kept, gzipped, in bench/mutation-incremental/, so a fresh clone re-tests
// only the mutants whose code or covering tests changed since the last recorded run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MUTATION_GROUPS } from './mutation-groups.mjs';
import { ensureRuntime } from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const node = ensureRuntime(process.arch);
const stryker = join(root, 'node_modules/@stryker-mutator/core/bin/stryker.js');
const summaryPath = join(root, 'bench/mutation-summary.json');
const equivalentsPath = join(root, 'bench/mutation-equivalents.json');
const markdownPath = join(root, 'bench/MUTATION.md');

const args = process.argv.slice(2);
const force = args.includes('--force');
const reportOnly = args.includes('--report-only');
const named = args.filter((a) => !a.startsWith('--'));
for (const g of named) if (!MUTATION_GROUPS[g]) throw new Error(`unknown group ${g}; one of: ${Object.keys(MUTATION_GROUPS).join(', ')}`);
const groups = named.length > 0 ? named : Object.keys(MUTATION_GROUPS);


const summary = existsSync(summaryPath) ? JSON.parse(readFileSync(summaryPath, 'utf8')) : { groups: {}, files: {} };
const equivalents = existsSync(equivalentsPath) ? JSON.parse(readFileSync(equivalentsPath, 'utf8')) : [];
const strykerVersion = JSON.parse(readFileSync(join(root, 'node_modules/@stryker-mutator/core/package.json'), 'utf8')).version;
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();

let failed = false;
const started = Date.now();
for (const group of groups) {
  const incremental = join(root, `reports/mutation/incremental-${group}.json`);
  const kept = join(root, `bench/mutation-incremental/${group}.json.gz`);
  if (!reportOnly && !force && !existsSync(incremental) && existsSync(kept)) {
    mkdirSync(dirname(incremental), { recursive: true });
    writeFileSync(incremental, gunzipSync(readFileSync(kept)));
  }
  if (!reportOnly) {
    const t0 = Date.now();
    console.error(`mutation: group ${group} (${MUTATION_GROUPS[group].join(', ')})`);
    const run = spawnSync(node, [stryker, 'run', ...(force ? ['--force'] : [])], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, MUTATION_GROUP: group },
    });
    if (run.status !== 0) {
      console.error(`mutation: Stryker failed on group ${group} (exit ${run.status}); its last measured row is kept`);
      failed = true;
      continue;
    }
    if (existsSync(incremental)) {
      mkdirSync(dirname(kept), { recursive: true });
      writeFileSync(kept, gzipSync(readFileSync(incremental), { level: 9 }));
    }
    summary.groups[group] = { date: stamp(new Date()), seconds: Math.round((Date.now() - t0) / 1000) };
  }
  const reportPath = join(root, `reports/mutation/${group}.json`);
  if (!existsSync(reportPath)) continue;
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    summary.files[file] = summariseFile(file, source, mutants, group);
  }
}
if (!reportOnly) {
  summary.lastRun = { groups, started: stamp(new Date(started)), seconds: Math.round((Date.now() - started) / 1000), stryker: strykerVersion, node: nodeVersion };
  if (groups.length === Object.keys(MUTATION_GROUPS).length && !failed) summary.fullRun = summary.lastRun;
}
writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(markdownPath, renderMarkdown(summary));
console.error(`mutation: wrote ${markdownPath}`);
process.exit(failed ? 1 : 0);

/** Counts for one file; survivors matched against bench/mutation-equivalents.json. */
function summariseFile(file, source, mutants, group) {
  const lines = source.split('\n');
  const counts = { killed: 0, survived: 0, noCoverage: 0, equivalent: 0, ignored: 0, errors: 0 };
  const survivors = [];
  const explained = [];
  for (const m of mutants) {
    switch (m.status) {
      case 'Killed':
      case 'Timeout':
        counts.killed++;
        break;
      case 'Survived':
      case 'NoCoverage': {
        const line = lines[m.location.start.line - 1] ?? '';
        const entry = {
          line: m.location.start.line,
          mutator: m.mutatorName,
          replacement: oneLine(m.replacement ?? ''),
          code: oneLine(line.trim()),
          status: m.status,
        };
        const reason = equivalenceOf(file, entry, line);
        if (reason) {
          counts.equivalent++;
          explained.push({ ...entry, reason });
        } else {
          if (m.status === 'Survived') counts.survived++;
          else counts.noCoverage++;
          survivors.push(entry);
        }
        break;
      }
      case 'Ignored':
        counts.ignored++;
        break;
      default:
        counts.errors++; // CompileError, RuntimeError: not valid mutants, outside the score
    }
  }
  const valid = counts.killed + counts.survived + counts.noCoverage + counts.equivalent;
  return {
    group,
    measured: summary.groups[group]?.date ?? 'unknown',
    ...counts,
    score: valid === 0 ? null : round1((100 * counts.killed) / valid),
    scoreExplained: valid - counts.equivalent === 0 ? null : round1((100 * counts.killed) / (valid - counts.equivalent)),
    survivors,
    explained,
  };
}

/** The reason a survivor is equivalent, if bench/mutation-equivalents.json lists it. */
function equivalenceOf(file, entry, line) {
  for (const e of equivalents) {
    if (e.file !== file || e.mutator !== entry.mutator) continue;
    if (!line.includes(e.code)) continue;
    if (e.replacement !== undefined && e.replacement !== entry.replacement) continue;
    return e.reason;
  }
  return undefined;
}

function stamp(date) {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function oneLine(text) {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > 100 ? `${flat.slice(0, 97)}...` : flat;
}

function round1(x) {
  return Math.round(x * 10) / 10;
}

function renderMarkdown(s) {
  const files = Object.entries(s.files).sort(([a], [b]) => a.localeCompare(b));
  const out = [];
  out.push('# Mutation testing of the security core (issue 19)');
  out.push('');
  out.push('StrykerJS mutates the code that decides trust and runs the fast unit tests against each mutant');
  out.push('(`vitest.mutation.config.ts`: test/policy, test/atproto, test/properties, test/net, test/registry/reference*,');
  out.push('test/identity/plc*, test/verify unit tests; no real-server e2e). A mutant that no test notices is a rule the');
  out.push('tests do not pin. Static mutants (run only while a module loads) are ignored.');
  out.push('');
  out.push('How the run is kept under 30 minutes on 2 cores: each property test runs at most 50 cases per mutant');
  out.push('(test/mutation/fast-check-capped.ts; fewer cases can only let more mutants survive, so scores are lower');
  out.push('bounds); one vitest worker keeps its modules loaded between mutants (isolate off: Stryker switches mutants at');
  out.push('call time); the targeted `*-rules.test.ts` files run first, so a mutant they kill stops there; each group\'s');
  out.push('incremental file is kept gzipped in bench/mutation-incremental/, so a run re-tests only what changed.');
  out.push('');
  out.push('Command: `npm run mutation` (all groups, one after another) or `npm run mutation -- <group>...`;');
  out.push('`-- --force` ignores the incremental files. It runs');
  out.push('`<pinned Node 24 from scripts/node-runtime.mjs> node_modules/@stryker-mutator/core/bin/stryker.js run` per group');
  out.push('(scripts/mutation.mjs, stryker.config.mjs), concurrency 2, perTest coverage, incremental.');
  if (s.fullRun) out.push(`Last full run (every group, \`npm run mutation\`): started ${s.fullRun.started}, ${fmtSeconds(s.fullRun.seconds)}, StrykerJS ${s.fullRun.stryker} on Node ${s.fullRun.node}, concurrency 2 on a 2-core machine shared with other work.`);
  if (s.lastRun && s.lastRun !== s.fullRun) out.push(`Last run: groups ${s.lastRun.groups.join(', ')}${s.lastRun.started ? `, started ${s.lastRun.started}` : ''}; ${fmtSeconds(s.lastRun.seconds)}.`);
  out.push('A group re-measured after the full run shows its own date below; the others are as the full run left them.');
  for (const note of s.notes ?? []) out.push(note);
  out.push('');
  out.push('| group | measured | runtime |');
  out.push('|---|---|---|');
  for (const [g, info] of Object.entries(s.groups)) out.push(`| ${g} | ${info.date} | ${fmtSeconds(info.seconds)} |`);
  out.push('');
  out.push('Score = killed / (killed + survived + no coverage + equivalent); "score, equivalents explained" leaves out the');
  out.push('survivors listed below as equivalent, with the reason. Killed includes timeouts.');
  out.push('');
  out.push('| file | group | killed | survived | no coverage | equivalent (explained) | score | score, equivalents explained |');
  out.push('|---|---|---|---|---|---|---|---|');
  const total = { killed: 0, survived: 0, noCoverage: 0, equivalent: 0 };
  for (const [file, f] of files) {
    for (const k of Object.keys(total)) total[k] += f[k];
    out.push(`| ${file} | ${f.group} | ${f.killed} | ${f.survived} | ${f.noCoverage} | ${f.equivalent} | ${pct(f.score)} | ${pct(f.scoreExplained)} |`);
  }
  const valid = total.killed + total.survived + total.noCoverage + total.equivalent;
  out.push(
    `| **all** | | ${total.killed} | ${total.survived} | ${total.noCoverage} | ${total.equivalent} | ${pct(valid ? round1((100 * total.killed) / valid) : null)} | ${pct(valid - total.equivalent ? round1((100 * total.killed) / (valid - total.equivalent)) : null)} |`,
  );
  out.push('');
  out.push('## Survivors explained as equivalent');
  out.push('');
  out.push('Listed in bench/mutation-equivalents.json: no observable behaviour changes (a cache bound, a log or message');
  out.push('text, a check a later one repeats), so no test can or should kill them.');
  out.push('');
  for (const [file, f] of files) {
    for (const e of f.explained) out.push(`- ${file}:${e.line} ${e.mutator} ${code(e.code)} -> ${code(e.replacement)}: ${e.reason}`);
  }
  out.push('');
  out.push('## Survivors not yet killed nor explained');
  out.push('');
  let any = false;
  for (const [file, f] of files) {
    for (const e of f.survivors) {
      any = true;
      out.push(`- ${file}:${e.line} ${e.status} ${e.mutator} ${code(e.code)} -> ${code(e.replacement)}`);
    }
  }
  if (!any) out.push('None.');
  out.push('');
  return out.join('\n');
}

function pct(x) {
  return x === null || x === undefined ? 'n/a' : `${x}%`;
}

function fmtSeconds(sec) {
  return sec >= 60 ? `${Math.floor(sec / 60)} min ${sec % 60} s` : `${sec} s`;
}

/** Inline code that may itself hold backticks (template literals). */
function code(text) {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}
