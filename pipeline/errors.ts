/**
 * An expected failure the user can act on: printed as its message alone (no stack) by the CLI's one catch,
 * which exits with `exitCode`. Anything else is a bug and is printed as "Unexpected error" with its stack.
 */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}
