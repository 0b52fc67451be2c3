import { MESSAGE_MAX_LENGTH } from '@parley/contracts';
import { fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { BOB, CAROL, DAVE, ME, id, member, message } from '../test/chat-fixtures';
import { Composer, type ComposerProps, mentionCandidates, mentionQuery } from './Composer';

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
    expect(onSend).toHaveBeenCalledExactlyOnceWith('first line\nsecond line', 'normal', []);
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

  it('marks the next message important or urgent, then goes back to normal', async () => {
    const { onSend, input } = setup();
    const user = userEvent.setup();
    await user.click(screen.getByTestId('priority-button'));
    await user.click(screen.getByTestId('priority-option-urgent'));
    expect(screen.getByTestId('priority-bar')).toHaveTextContent('Urgent message');
    expect(screen.getByTestId('priority-button')).toHaveAttribute('data-priority', 'urgent');
    await user.type(input, 'servers are down{Enter}');
    expect(onSend).toHaveBeenLastCalledWith('servers are down', 'urgent', []);
    expect(screen.queryByTestId('priority-bar')).toBeNull();

    await user.click(screen.getByTestId('priority-button'));
    await user.click(screen.getByTestId('priority-option-high'));
    await user.click(screen.getByTestId('priority-clear-button'));
    await user.type(input, 'never mind{Enter}');
    expect(onSend).toHaveBeenLastCalledWith('never mind', 'normal', []);
  });

  describe('@ mentions', () => {
    const members = {
      [ME]: member(ME, 'owner', 0),
      [BOB]: member(BOB, 'member', 0),
      [CAROL]: member(CAROL, 'member', 0),
      [DAVE]: member(DAVE, 'member', 0),
    };

    it('finds the "@…" before the caret, not in e-mail addresses', () => {
      expect(mentionQuery('hi @bo', 6)).toEqual({ start: 3, query: 'bo' });
      expect(mentionQuery('@', 1)).toEqual({ start: 0, query: '' });
      expect(mentionQuery('mail ada@exa', 12)).toBeNull();
      expect(mentionQuery('hi @bob there', 13)).toBeNull();
      expect(mentionCandidates(members, ME, 'ca').map((u) => u.username)).toEqual(['carol']);
      // By a word of the display name too; never myself.
      expect(mentionCandidates(members, ME, 'baker').map((u) => u.username)).toEqual(['bob']);
      expect(mentionCandidates(members, ME, '').map((u) => u.username)).toEqual(['bob', 'carol', 'dave']);
    });

    it('suggests members after "@"; Enter or a click picks one, arrows move, Escape closes', async () => {
      const { onSend, input } = setup({ members, me: ME });
      const user = userEvent.setup();
      await user.type(input, 'hey @');
      const names = () =>
        screen.getAllByTestId('mention-suggestion').map((el) => el.getAttribute('data-username'));
      expect(names()).toEqual(['bob', 'carol', 'dave']);
      await user.keyboard('{ArrowDown}{ArrowDown}{Enter}');
      expect(input.value).toBe('hey @dave ');
      expect(screen.queryByTestId('mention-suggestions')).toBeNull();
      expect(onSend).not.toHaveBeenCalled();

      await user.type(input, 'and @c');
      expect(names()).toEqual(['carol']);
      await user.click(screen.getByTestId('mention-suggestion'));
      expect(input.value).toBe('hey @dave and @carol ');

      await user.type(input, '@b');
      await user.keyboard('{Escape}');
      expect(screen.queryByTestId('mention-suggestions')).toBeNull();
      await user.keyboard('{Enter}');
      expect(onSend).toHaveBeenCalledExactlyOnceWith('hey @dave and @carol @b', 'normal', []);
    });
  });
});
