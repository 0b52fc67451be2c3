/**
 * parley-load's entry: parse options, run, print the summary, write the reports, and
 * exit 0 (all checks passed), 1 (a check failed), 2 (could not run) or 130 (interrupted).
 * Progress and log lines go to stderr so stdout carries only the summary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Interrupted } from './api.js';
import { helpText, parseOptions, UsageError, type ParsedArgs } from './options.js';
import { renderHtml } from './report-html.js';
import { renderText } from './report-text.js';
import { runLoadTest } from './run.js';

export async function main(argv: string[]): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`parley-load: ${err.message}\nRun with --help for the options.\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(helpText());
    return 0;
  }
  const { options, warnings } = parsed;
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);

  const tty = process.stderr.isTTY === true;
  let progressShown = false;
  let progressCalls = 0;
  const clearProgress = () => {
    if (tty && progressShown) process.stderr.write('\r\x1b[2K');
    progressShown = false;
  };
  const io = {
    log(line: string) {
      clearProgress();
      process.stderr.write(`${line}\n`);
    },
    progress: options.quiet
      ? undefined
      : (line: string) => {
          if (tty) {
            process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 200) - 1)}`);
            progressShown = true;
          } else if (progressCalls++ % 5 === 0) {
            // Not a terminal (CI, a log file): a line every five seconds instead of redrawing.
            process.stderr.write(`${line}\n`);
          }
        },
    signal: undefined as AbortSignal | undefined,
  };

  // First Ctrl+C: stop sending, close the sockets and report what was measured. Second: quit.
  const controller = new AbortController();
  io.signal = controller.signal;
  const onSignal = (signal: string) => {
    if (controller.signal.aborted) process.exit(130);
    io.log(`${signal}: stopping; press Ctrl+C again to quit at once`);
    controller.abort();
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  try {
    const report = await runLoadTest(options, io, warnings);
    clearProgress();
    process.stdout.write(renderText(report));
    if (options.out) writeReport(options.out, `${JSON.stringify(report, null, 2)}\n`, io.log);
    if (options.html) writeReport(options.html, renderHtml(report), io.log);
    return report.interrupted ? 130 : report.passed ? 0 : 1;
  } catch (err) {
    clearProgress();
    if (err instanceof Interrupted) {
      process.stderr.write('parley-load: interrupted before any phase ran; nothing to report\n');
      return 130;
    }
    process.stderr.write(`parley-load: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
}

function writeReport(file: string, content: string, log: (line: string) => void): void {
  const target = path.resolve(file);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, content);
  log(`wrote ${target}`);
}
