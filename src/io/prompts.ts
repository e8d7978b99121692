import { DdxError } from '../errors.js';
import { importEsm } from './esm.js';

// Prompts are loaded only when a person is asked something, so scripts never pay for them.
// Ctrl-C inside a prompt becomes CANCELLED (exit 130) and nothing is changed.

export interface Choice<T> {
  value: T;
  name: string;
  description?: string;
  disabled?: boolean | string;
}

function cancelled(err: unknown): never {
  const name = (err as { name?: string }).name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'CancelPromptError') {
    throw new DdxError('CANCELLED', 'Cancelled; nothing was changed.');
  }
  throw err;
}

export async function askSearch<T>(
  message: string,
  source: (term: string | undefined) => Promise<Choice<T>[]>,
): Promise<T> {
  const { default: search } =
    await importEsm<typeof import('@inquirer/search')>('@inquirer/search');
  return search<T>({ message, source: (term) => source(term) }).catch(cancelled);
}

export async function askSelect<T>(message: string, choices: Choice<T>[], def?: T): Promise<T> {
  const { default: select } =
    await importEsm<typeof import('@inquirer/select')>('@inquirer/select');
  return select<T>(
    def === undefined ? { message, choices } : { message, choices, default: def },
  ).catch(cancelled);
}

export async function askCheckbox<T>(message: string, choices: Choice<T>[]): Promise<T[]> {
  const { default: checkbox } =
    await importEsm<typeof import('@inquirer/checkbox')>('@inquirer/checkbox');
  return checkbox<T>({ message, choices, required: true }).catch(cancelled);
}

export async function askConfirm(message: string): Promise<boolean> {
  const { default: confirm } =
    await importEsm<typeof import('@inquirer/confirm')>('@inquirer/confirm');
  return confirm({ message, default: false }).catch(cancelled);
}
