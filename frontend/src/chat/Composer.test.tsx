import { MESSAGE_MAX_LENGTH } from '@parley/contracts';
import { fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { BOB, id, message } from '../test/chat-fixtures';
import { Composer, type ComposerProps } from './Composer';

function setup(props: Partial<ComposerProps> = {}) {
  const handlers = {
    onSend: vi.fn(),
    onSaveEdit: vi.fn(),
    onCancelReply: vi.fn(),
    onCancelEdit: vi.fn(),
    onTyping: vi.fn(),
  };
  render(
    <Composer
      chatId={props.chatId ?? id(`composer ${Math.random()}`)}
      replyTo={null}
      editing={null}
      {...handlers}
      {...props}
    />,
  );
  return { ...handlers, input: screen.getByTestId('composer-input') as HTMLTextAreaElement };
}

describe('Composer', () => {
  it('sends on Enter and starts a new line on Shift+Enter', async () => {
    const { onSend, input } = setup();
    const user = userEvent.setup();
    await user.type(input, 'first line{Shift>}{Enter}{/Shift}second line');
    expect(onSend).not.toHaveBeenCalled();
    expect(input.value).toBe('first line\nsecond line');
    await user.keyboard('{Enter}');
    expect(onSend).toHaveBeenCalledExactlyOnceWith('first line\nsecond line');
    expect(input.value).toBe('');
  });

  it('does not send blank text', async () => {
    const { onSend, input } = setup();
    const user = userEvent.setup();
    await user.type(input, '   {Enter}');
    expect(onSend).not.toHaveBeenCalled();
    expect(screen.getByTestId('send-button')).toBeDisabled();
  });

  it('announces typing at most every 2 seconds and withdraws it on send', async () => {
    const { onTyping, input } = setup();
    const user = userEvent.setup();
    await user.type(input, 'typing fast');
    expect(onTyping.mock.calls).toEqual([[true]]);
    await user.keyboard('{Enter}');
    expect(onTyping.mock.calls).toEqual([[true], [false]]);
  });

  it('withdraws typing when the text is cleared', async () => {
    const { onTyping, input } = setup();
    const user = userEvent.setup();
    await user.type(input, 'ab');
    await user.clear(input);
    expect(onTyping.mock.calls).toEqual([[true], [false]]);
  });

  it('shows a counter near the limit and refuses to send past it', async () => {
    const { onSend, input } = setup();
    fireEvent.change(input, { target: { value: 'x'.repeat(MESSAGE_MAX_LENGTH - 500) } });
    expect(screen.getByTestId('char-counter')).toHaveTextContent('9,500 / 10,000');
    fireEvent.change(input, { target: { value: 'x'.repeat(MESSAGE_MAX_LENGTH + 1) } });
    expect(screen.getByTestId('send-button')).toBeDisabled();
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(onSend).not.toHaveBeenCalled();
  });

  it('edits: starts from the message text, saves on Enter, cancels on Escape', async () => {
    const target = message(id('composer chat'), 3, BOB, 'old text');
    const { onSaveEdit, onCancelEdit, onSend, input } = setup({ editing: target });
    expect(input.value).toBe('old text');
    expect(screen.getByTestId('edit-bar')).toBeVisible();
    const user = userEvent.setup();
    await user.clear(input);
    await user.type(input, 'new text{Enter}');
    expect(onSaveEdit).toHaveBeenCalledExactlyOnceWith('new text');
    expect(onSend).not.toHaveBeenCalled();
    await user.keyboard('{Escape}');
    expect(onCancelEdit).toHaveBeenCalled();
  });

  it('shows the message being replied to, and Escape drops the reply', async () => {
    const target = message(id('composer chat'), 2, BOB, 'quoted **words**');
    const { onCancelReply, input } = setup({ replyTo: target });
    expect(screen.getByTestId('reply-bar')).toHaveTextContent('Replying to Bob Baker');
    expect(screen.getByTestId('reply-bar')).toHaveTextContent('quoted **words**');
    await userEvent.setup().type(input, '{Escape}');
    expect(onCancelReply).toHaveBeenCalled();
  });
});
