/**
 * A voice note: play/pause, the waveform (played part coloured; click or arrow keys to
 * seek) and the time. The audio is fetched only when played.
 */
import { type Attachment, WAVEFORM_BARS } from '@parley/contracts';
import { type KeyboardEvent, type MouseEvent, useEffect, useRef, useState } from 'react';
import { PauseIcon, PlayIcon } from '../chat/Icons';
import { durationText } from './format';
import { reportBrokenUrl, useMediaUrls } from './url-store';

/** A flat line when the note has no waveform (yet). */
const FLAT = Array.from({ length: WAVEFORM_BARS }, () => 24);

export function Waveform({
  peaks,
  progress,
  onSeek,
}: {
  peaks: readonly number[] | null;
  progress: number;
  onSeek?: (fraction: number) => void;
}) {
  const bars = peaks && peaks.length ? peaks : FLAT;
  const played = Math.round(progress * bars.length);
  const seek = (e: MouseEvent<HTMLDivElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    if (box.width > 0) onSeek?.(Math.min(1, Math.max(0, (e.clientX - box.left) / box.width)));
  };
  const key = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      e.preventDefault();
      onSeek?.(Math.min(1, Math.max(0, progress + (e.key === 'ArrowRight' ? 0.05 : -0.05))));
    }
  };
  return (
    <div
      className="waveform"
      onClick={onSeek ? seek : undefined}
      onKeyDown={onSeek ? key : undefined}
      role={onSeek ? 'slider' : undefined}
      aria-label={onSeek ? 'Position' : undefined}
      aria-valuemin={onSeek ? 0 : undefined}
      aria-valuemax={onSeek ? 100 : undefined}
      aria-valuenow={onSeek ? Math.round(progress * 100) : undefined}
      tabIndex={onSeek ? 0 : undefined}
      data-testid="waveform"
      data-bars={bars.length}
    >
      {bars.map((peak, i) => (
        <span
          key={i}
          className={`waveform__bar${i < played ? ' waveform__bar--played' : ''}`}
          style={{ height: `${Math.max(12, Math.round((peak / 255) * 100))}%` }}
        />
      ))}
    </div>
  );
}

/** Play a source; `src` null means "not available yet" (the play button waits for it). */
export function VoiceNote({
  src,
  peaks,
  durationMs,
  status = 'ready',
  failureReason = null,
  onSrcError,
  onWantSrc,
  testId = 'voice-player',
  mediaId,
}: {
  src: string | null;
  peaks: readonly number[] | null;
  durationMs: number | null;
  status?: Attachment['status'];
  failureReason?: string | null;
  onSrcError?: () => void;
  /** Asked when play is pressed and there is no source yet. */
  onWantSrc?: () => void;
  testId?: string;
  mediaId?: string;
}) {
  const audioRef = useRef<HTMLAudioElement>(null);
  const [playing, setPlaying] = useState(false);
  const [position, setPosition] = useState(0);
  const [wantPlay, setWantPlay] = useState(false);
  const [knownDuration, setKnownDuration] = useState<number | null>(null);
  const total = durationMs ?? knownDuration;

  // Play pressed before the URL arrived: start as soon as it is there.
  useEffect(() => {
    if (!wantPlay || !src) return;
    setWantPlay(false);
    void audioRef.current?.play().catch(() => setPlaying(false));
  }, [wantPlay, src]);

  const toggle = () => {
    const audio = audioRef.current;
    if (playing) {
      audio?.pause();
      return;
    }
    if (!src || !audio) {
      onWantSrc?.();
      setWantPlay(true);
      return;
    }
    void audio.play().catch(() => setPlaying(false));
  };
  const seek = (fraction: number) => {
    const audio = audioRef.current;
    const seconds = (total ?? 0) / 1000;
    if (!audio || !seconds) return;
    audio.currentTime = fraction * seconds;
    setPosition(audio.currentTime * 1000);
  };
  const progress = total ? Math.min(1, position / total) : 0;
  const usable = status === 'ready';
  return (
    <div
      className={`voice-note voice-note--${status}`}
      data-testid={testId}
      data-media-id={mediaId}
      data-status={status}
      data-playing={playing}
    >
      <button
        type="button"
        className="voice-note__play"
        onClick={toggle}
        disabled={!usable}
        aria-label={playing ? 'Pause' : 'Play voice message'}
        data-testid="voice-play"
      >
        {status === 'pending' ? (
          <span className="spinner spinner--small" aria-hidden="true" />
        ) : playing ? (
          <PauseIcon />
        ) : (
          <PlayIcon />
        )}
      </button>
      <Waveform peaks={peaks} progress={progress} {...(usable ? { onSeek: seek } : {})} />
      <span className="voice-note__time" data-testid="voice-time">
        {status === 'failed'
          ? (failureReason ?? 'Not playable')
          : durationText(playing || position > 0 ? position : total)}
      </span>
      {src && (
        <audio
          ref={audioRef}
          src={src}
          preload="metadata"
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
          onEnded={() => {
            setPlaying(false);
            setPosition(0);
          }}
          onTimeUpdate={(e) => setPosition(e.currentTarget.currentTime * 1000)}
          onLoadedMetadata={(e) => {
            const d = e.currentTarget.duration;
            if (Number.isFinite(d)) setKnownDuration(d * 1000);
          }}
          onError={onSrcError}
        />
      )}
    </div>
  );
}

/** A voice note of a message: its URL is asked for when it is first played. */
export function VoicePlayer({ attachment: a }: { attachment: Attachment }) {
  const [wanted, setWanted] = useState(false);
  const urls = useMediaUrls(a.id, ['original'], wanted && a.status === 'ready');
  return (
    <VoiceNote
      src={wanted ? (urls?.original ?? null) : null}
      peaks={a.waveform}
      durationMs={a.durationMs}
      status={a.status}
      failureReason={a.failureReason}
      onWantSrc={() => setWanted(true)}
      onSrcError={() => reportBrokenUrl(a.id)}
      mediaId={a.id}
    />
  );
}
