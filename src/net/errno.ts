/** An error from a libuv status code, shaped as Node's own (code, errno, syscall; the message names them). */
import { getSystemErrorName } from 'node:util';

export function errnoError(status: number, syscall: string, target?: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${target === undefined ? '' : ` ${target}`}`);
  err.code = code;
  err.errno = status;
  err.syscall = syscall;
  return err;
}
