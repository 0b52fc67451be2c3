/** The microphone in the composer: refused permission says so; a recording is uploaded as a voice note and sent. */
import type { Attachment } from '@parley/contracts';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Composer } from '../chat/Composer';
import { id } from '../test/chat-fixtures';
import { recordingMime } from './VoiceRecorder';

function renderComposer(onSend = vi.fn<(body: string, p: string, a: Attachment[]) => void>()) {
  render(
    <Composer
      chatId={id(`voice ${Math.random()}`)}
      replyTo={null}
      editing={null}
      onSend={onSend}
      onSaveEdit={vi.fn()}
      onCancelReply={vi.fn()}
      onCancelEdit={vi.fn()}
      onTyping={vi.fn()}
    />,
  );
  return onSend;
}

class FakeRecorder {
  static isTypeSupported = (m: string) => m === 'audio/ogg;codecs=opus';
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('voice recorder', () => {
  it('picks Opus in WebM where it can, else Ogg or MP4', () => {
    vi.stubGlobal('MediaRecorder', FakeRecorder);
    expect(recordingMime()).toBe('audio/ogg;codecs=opus');
    vi.stubGlobal('MediaRecorder', { isTypeSupported: () => true });
    expect(recordingMime()).toBe('audio/webm;codecs=opus');
  });

  it('shows the mic only while there is nothing written, and says clearly when the microphone is refused', async () => {
    vi.stubGlobal('MediaRecorder', FakeRecorder);
    vi.stubGlobal('navigator', {
      ...navigator,
      mediaDevices: {
        getUserMedia: () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError')),
      },
    });
    renderComposer();
    const user = userEvent.setup();
    await user.type(screen.getByTestId('composer-input'), 'hi');
    expect(screen.queryByTestId('mic-button')).toBeNull();
    await user.clear(screen.getByTestId('composer-input'));
    await user.click(screen.getByTestId('mic-button'));
    const error = await screen.findByTestId('voice-error');
    expect(error).toHaveTextContent(/Microphone access is blocked/);
    // Discard goes back to writing.
    await user.click(screen.getByTestId('voice-discard'));
    await waitFor(() => expect(screen.getByTestId('composer-input')).toBeInTheDocument());
  });

  it('says so when the browser cannot record', async () => {
    vi.stubGlobal('MediaRecorder', undefined);
    renderComposer();
    await userEvent.click(screen.getByTestId('mic-button'));
    expect(await screen.findByTestId('voice-error')).toHaveTextContent('This browser cannot record audio.');
  });
});
