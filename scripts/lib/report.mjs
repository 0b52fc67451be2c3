/**
 * What the benchmark scripts share when they write their results into
 * specs/benchmarks.md: the commit measured, the generated sections, and the closing lines
 * of a section (a disturbed machine, the goals missed, where the full reports are); the
 * machine's facts and the run with a time budget.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { root } from './run-server.mjs';

/** "`abc1234`", plus a warning when the server's sources differ from that commit. */
export function commitLabel() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'backend', 'contracts', 'prisma'], {
      cwd: root,
    })
      .toString()
      .trim();
    return `\`${commit}\`${dirty ? ' with uncommitted changes in backend/contracts/prisma' : ''}`;
  } catch {
    return '`unknown`';
  }
}

/**
 * Replaces the generated section `key` of the document at `docPath` (between
 * `<!-- bench:<key>:start -->` and `<!-- bench:<key>:end -->`); a missing document starts
 * from `template`. With `appendUnder` (a heading), a document without the markers gets
 * them appended at its end under that heading instead of an error.
 */
export function writeSection(docPath, key, text, template, { appendUnder } = {}) {
  let doc = existsSync(docPath) || template === undefined ? readFileSync(docPath, 'utf8') : template;
  const start = `<!-- bench:${key}:start -->`;
  const end = `<!-- bench:${key}:end -->`;
  if (appendUnder && (doc.indexOf(start) < 0 || doc.indexOf(end) < doc.indexOf(start))) {
    doc = `${doc.trimEnd()}\n\n${appendUnder}\n\n${start}\n${end}\n`;
  }
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`specs/benchmarks.md has no ${start} … ${end} markers`);
  writeFileSync(docPath, `${doc.slice(0, i + start.length)}\n${text}\n${doc.slice(j)}`);
}

/**
 * The end of a section: a warning naming the steps during which other processes took more
 * than `limitPercent` of a core (`disturbed`: "step (12 %)" strings), the verdict, and
 * where the full reports are. Returns the lines and whether every verdict held.
 */
export function closingLines({
  disturbed,
  limitPercent,
  who = 'Other processes on the machine',
  rivals,
  verdicts,
  kind,
  reports,
}) {
  const lines = [];
  if (disturbed.length) {
    lines.push(
      `⚠️ ${who} used more than ${limitPercent} % of a core during ${disturbed.join(', ')}: ` +
        `they competed with the server and ${rivals} for the same cores, so those numbers are pessimistic.`,
      '',
    );
  }
  const missed = verdicts.filter((v) => !v.ok);
  const noun = kind === 'target' ? 'Targets' : 'Goals';
  lines.push(
    missed.length
      ? `**${noun} missed:** ${missed.map((v) => v.label).join('; ')}.`
      : `**Every ${kind} met.**`,
    '',
    reports,
  );
  return { lines, allMet: missed.length === 0 };
}

/** The machine a benchmark ran on, for its JSON report. */
export function machineFacts() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    totalMemoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/**
 * Runs a benchmark's `main` (returning its exit code) within `budgetMs`, then `cleanup`,
 * and exits with the code: 2 when it threw or ran over its budget.
 */
export async function runBenchmark(name, main, { budgetMs, cleanup }) {
  let code = 2;
  const budget = setTimeout(() => {
    console.error(`${name}: over its time budget; stopping`);
    void cleanup().finally(() => process.exit(2));
  }, budgetMs);
  budget.unref();
  try {
    code = await main();
  } catch (err) {
    console.error(`${name}: ${err instanceof Error ? err.stack : err}`);
    code = 2;
  } finally {
    await cleanup();
  }
  process.exit(code);
}
