/**
 * Recording a voice note in the composer: the microphone (MediaRecorder, Opus in WebM
 * where the browser has it, else Ogg or MP4), a running timer, stop → a preview with the
 * waveform measured from the recording, then send: uploaded as a voice note (with its
 * duration and waveform) and sent as a message with that attachment.
 */
import type { Attachment } from '@parley/contracts';
import { useCallback, useEffect, useRef, useState } from 'react';
import { StopIcon, TrashIcon } from '../chat/Icons';
import { durationText } from './format';
import { isRetryable, uploadFile } from './media-api';
import { attachmentOf } from './upload-store';
import { rememberMedia } from './url-store';
import { VoiceNote } from './VoicePlayer';
import { analyseRecording } from './waveform';

/** Longest note; recording stops by itself here. */
export const MAX_RECORDING_MS = 15 * 60_000;
const MIME_CHOICES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm'];

export function recordingMime(): string | null {
  if (typeof MediaRecorder === 'undefined') return null;
  return MIME_CHOICES.find((m) => MediaRecorder.isTypeSupported?.(m)) ?? '';
}

function extensionOf(mime: string): string {
  return mime.includes('ogg') ? 'ogg' : mime.includes('mp4') ? 'm4a' : 'webm';
}

/** Words for a microphone that could not be opened. */
export function microphoneProblem(err: unknown): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return 'Microphone access is blocked. Allow the microphone for this site in your browser’s settings to record voice messages.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No microphone was found.';
  if (name === 'NotReadableError') return 'The microphone is in use by another app.';
  return 'The microphone could not be started.';
}

type Phase =
  | { kind: 'starting' }
  | { kind: 'recording'; startedAt: number }
  | { kind: 'analysing' }
  | { kind: 'preview'; blob: Blob; url: string; durationMs: number; waveform: number[] | null }
  | { kind: 'error'; message: string };

export function VoiceRecorder({
  onSend,
  onClose,
}: {
  /** The note is uploaded: send a message with it. */
  onSend: (attachment: Attachment) => void;
  onClose: () => void;
}) {
  const [phase, setPhase] = useState<Phase>({ kind: 'starting' });
  const [elapsed, setElapsed] = useState(0);
  const [upload, setUpload] = useState<{ progress: number; error: string | null; retryable: boolean } | null>(
    null,
  );
  const recorderRef = useRef<MediaRecorder | null>(null);
  const streamRef = useRef<MediaStream | null>(null);
  const chunks = useRef<Blob[]>([]);
  const discard = useRef(false);
  const abortRef = useRef<AbortController | null>(null);
  const urlRef = useRef<string | null>(null);

  const release = useCallback(() => {
    for (const track of streamRef.current?.getTracks() ?? []) track.stop();
    streamRef.current = null;
  }, []);

  // Open the microphone when shown; let go of everything when gone.
  useEffect(() => {
    let cancelled = false;
    async function start() {
      const mime = recordingMime();
      if (mime === null || !navigator.mediaDevices?.getUserMedia) {
        setPhase({ kind: 'error', message: 'This browser cannot record audio.' });
        return;
      }
      let stream: MediaStream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (err) {
        if (!cancelled) setPhase({ kind: 'error', message: microphoneProblem(err) });
        return;
      }
      if (cancelled) {
        for (const t of stream.getTracks()) t.stop();
        return;
      }
      streamRef.current = stream;
      const recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
      recorderRef.current = recorder;
      chunks.current = [];
      recorder.ondataavailable = (e) => {
        if (e.data.size > 0) chunks.current.push(e.data);
      };
      const startedAt = Date.now();
      recorder.onstop = () => {
        release();
        if (discard.current || cancelled) return;
        const type = recorder.mimeType || mime || 'audio/webm';
        const blob = new Blob(chunks.current, { type });
        const measured = Date.now() - startedAt;
        setPhase({ kind: 'analysing' });
        void analyseRecording(blob).then((analysis) => {
          if (cancelled) return;
          const url = URL.createObjectURL(blob);
          urlRef.current = url;
          setPhase({
            kind: 'preview',
            blob,
            url,
            durationMs: analysis?.durationMs || measured,
            waveform: analysis?.waveform ?? null,
          });
        });
      };
      recorder.start(250);
      setPhase({ kind: 'recording', startedAt });
    }
    void start();
    return () => {
      cancelled = true;
      discard.current = true;
      if (recorderRef.current?.state === 'recording') recorderRef.current.stop();
      release();
      abortRef.current?.abort();
      if (urlRef.current) URL.revokeObjectURL(urlRef.current);
    };
  }, [release]);

  const stop = useCallback(() => {
    if (recorderRef.current?.state === 'recording') recorderRef.current.stop();
  }, []);

  // The timer, and the longest note.
  useEffect(() => {
    if (phase.kind !== 'recording') return;
    const tick = () => {
      const ms = Date.now() - phase.startedAt;
      setElapsed(ms);
      if (ms >= MAX_RECORDING_MS) stop();
    };
    tick();
    const t = setInterval(tick, 250);
    return () => clearInterval(t);
  }, [phase, stop]);

  async function send() {
    if (phase.kind !== 'preview') return;
    const controller = new AbortController();
    abortRef.current = controller;
    setUpload({ progress: 0, error: null, retryable: false });
    const result = await uploadFile(
      phase.blob,
      `voice-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.${extensionOf(phase.blob.type)}`,
      {
        voice: { durationMs: phase.durationMs, waveform: phase.waveform ?? [] },
        signal: controller.signal,
        onProgress: (progress) => setUpload((u) => (u ? { ...u, progress } : u)),
      },
    );
    abortRef.current = null;
    if (result.ok) {
      rememberMedia([result.media]);
      onSend(attachmentOf(result.media));
      onClose();
    } else if (!result.cancelled) {
      setUpload({ progress: 0, error: result.problem.message, retryable: isRetryable(result.problem) });
    }
  }

  const cancel = () => {
    discard.current = true;
    stop();
    onClose();
  };

  return (
    <div className="voice-recorder" data-testid="voice-recorder" data-phase={phase.kind}>
      <button
        type="button"
        className="icon-button"
        onClick={cancel}
        aria-label="Discard voice message"
        title="Discard"
        data-testid="voice-discard"
      >
        <TrashIcon />
      </button>
      {phase.kind === 'error' ? (
        <p className="voice-recorder__error" role="alert" data-testid="voice-error">
          {phase.message}
        </p>
      ) : phase.kind === 'preview' ? (
        <VoiceNote
          src={phase.url}
          peaks={phase.waveform}
          durationMs={phase.durationMs}
          testId="voice-preview"
        />
      ) : (
        <span className="voice-recorder__live" role="status" aria-live="polite">
          <span
            className={`voice-recorder__dot${phase.kind === 'recording' ? ' voice-recorder__dot--on' : ''}`}
            aria-hidden="true"
          />
          <span data-testid="voice-timer">{durationText(elapsed)}</span>
          <span className="muted">
            {phase.kind === 'starting'
              ? 'Starting the microphone…'
              : phase.kind === 'analysing'
                ? 'Preparing…'
                : 'Recording'}
          </span>
        </span>
      )}
      {upload?.error && (
        <span className="voice-recorder__error" role="alert" data-testid="voice-upload-error">
          {upload.error}
        </span>
      )}
      {phase.kind === 'recording' && (
        <button
          type="button"
          className="button button--primary composer__send"
          onClick={stop}
          aria-label="Stop recording"
          data-testid="voice-stop"
        >
          <StopIcon />
        </button>
      )}
      {phase.kind === 'preview' && (
        <button
          type="button"
          className="button button--primary composer__send"
          onClick={() => void send()}
          disabled={upload !== null && upload.error === null}
          data-testid="voice-send"
        >
          {upload && !upload.error
            ? `${Math.round(upload.progress * 100)}%`
            : upload?.error
              ? upload.retryable
                ? 'Retry'
                : 'Try again'
              : 'Send'}
        </button>
      )}
    </div>
  );
}
