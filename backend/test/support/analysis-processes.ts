/**
 * The media analysis processes (media/analysis/analyser.ts) a process started, found in
 * /proc (Linux): the children whose command line names the analysis worker.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function analysisProcesses(parent = process.pid): number[] {
  return readdirSync(`/proc/${parent}/task`)
    .flatMap((tid) => readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8').trim().split(/\s+/))
    .filter((pid) => {
      try {
        return pid !== '' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('analysis-worker');
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}
