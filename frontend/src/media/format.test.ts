import { describe, expect, it } from 'vitest';
import { attachment } from '../test/media-fixtures';
import { attachmentsText, downloadUrl, durationText, fileBadge, humanSize } from './format';
import { peaksOf } from './waveform';

describe('media words and numbers', () => {
  it('sizes, durations and file badges', () => {
    expect(humanSize(999)).toBe('999 B');
    expect(humanSize(2_048)).toBe('2 kB');
    expect(humanSize(1_234_567)).toBe('1.2 MB');
    expect(humanSize(49_500_000)).toBe('49.5 MB');
    expect(humanSize(250_000_000)).toBe('250 MB');
    expect(durationText(65_000)).toBe('1:05');
    expect(durationText(3_723_000)).toBe('1:02:03');
    expect(durationText(null)).toBe('0:00');
    expect(fileBadge('report.final.PDF', 'application/pdf')).toBe('PDF');
    expect(fileBadge('README', 'text/plain')).toBe('PLAIN');
  });

  it('says what a message of attachments holds, for the chat list and notifications', () => {
    const photo = attachment('p');
    const file = attachment('f', { kind: 'file', name: 'notes.txt' });
    expect(attachmentsText([photo])).toBe('📷 Photo');
    expect(attachmentsText([photo, photo])).toBe('📷 2 photos');
    expect(attachmentsText([file])).toBe('📎 notes.txt');
    expect(attachmentsText([photo, file])).toBe('📎 2 attachments');
    expect(attachmentsText([attachment('v', { kind: 'voice' })])).toBe('🎤 Voice message');
  });

  it('asks this server for a download, and leaves URLs of another origin as signed', () => {
    expect(downloadUrl('/api/media/x/original?expires=1&user=u&signature=s')).toBe(
      '/api/media/x/original?expires=1&user=u&signature=s&download=1',
    );
    const s3 = 'https://s3.example.com/bucket/key?X-Amz-Signature=abc';
    expect(downloadUrl(s3)).toBe(s3);
  });

  it('measures a waveform: one peak per bar, the loudest 255', () => {
    const samples = new Float32Array(640);
    for (let i = 0; i < samples.length; i += 1) samples[i] = Math.sin(i) * (i < 320 ? 0.25 : 0.5);
    const peaks = peaksOf([samples]);
    expect(peaks).toHaveLength(64);
    expect(Math.max(...peaks)).toBe(255);
    expect(peaks[0]!).toBeLessThan(140);
    expect(peaks.every((p) => Number.isInteger(p) && p >= 0 && p <= 255)).toBe(true);
    expect(peaksOf([new Float32Array(100)])).toEqual(new Array(64).fill(0));
  });
});
