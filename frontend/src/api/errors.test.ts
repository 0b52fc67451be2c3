import { describe, expect, it } from 'vitest';
import { toProblem } from './errors';

describe('toProblem', () => {
  it('maps VALIDATION_ERROR details to body fields, dropping a "body." prefix and non-body issues', () => {
    const problem = toProblem(400, {
      error: {
        code: 'VALIDATION_ERROR',
        message: 'The request is not valid.',
        details: [
          { path: 'username', message: 'Too short.' },
          { path: 'username', message: 'Second message is ignored.' },
          { path: 'body.email', message: 'Not an email.' },
          { path: 'email', message: 'Located in the body.', location: 'body' },
          { path: 'id', message: 'Not a UUID.', location: 'params' },
        ],
      },
    });
    expect(problem.code).toBe('VALIDATION_ERROR');
    expect(problem.fieldErrors).toEqual({ username: 'Too short.', email: 'Not an email.' });
  });

  it('keeps the code and message of other errors, with no field errors', () => {
    expect(toProblem(429, { error: { code: 'TOO_MANY_LOGIN_ATTEMPTS', message: 'Slow down.' } })).toEqual({
      code: 'TOO_MANY_LOGIN_ATTEMPTS',
      message: 'Slow down.',
      fieldErrors: {},
    });
  });

  it('copes with a body that is not an error body (proxy error page)', () => {
    const problem = toProblem(502, '<html>Bad gateway</html>');
    expect(problem.code).toBe('INTERNAL_ERROR');
    expect(problem.fieldErrors).toEqual({});
  });
});
