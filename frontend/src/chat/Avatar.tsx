import { initials } from './format';
import { PresenceDot } from './PresenceDot';

/** Initials in a circle; for a person, their presence dot on the corner. */
export function Avatar({ name, presenceUserId }: { name: string; presenceUserId: string | null }) {
  return (
    <span className="avatar" aria-hidden={presenceUserId ? undefined : true}>
      <span className="avatar__initials" aria-hidden="true">
        {initials(name)}
      </span>
      {presenceUserId && <PresenceDot userId={presenceUserId} />}
    </span>
  );
}
