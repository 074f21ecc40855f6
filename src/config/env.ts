/**
 * `${VAR}` and `${VAR:-default}` in config strings, expanded from the environment.
 * `$${` writes a literal `${`. A variable that is not set (and has no default) is an
 * error naming it: a config that silently runs with an empty token or address is worse.
 */

export type Expansion = { ok: true; value: string; expanded: boolean } | { ok: false; message: string; missing: string[] };

const reference = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const name = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function expandEnv(text: string, env: NodeJS.ProcessEnv): Expansion {
  if (!text.includes('${')) return { ok: true, value: text, expanded: false };
  const missing: string[] = [];
  let malformed: string | undefined;
  const value = text.replace(reference, (match: string, inner: string | undefined) => {
    if (match === '$${') return '${';
    if (inner === undefined) {
      malformed ??= 'an unclosed "${"; write "$${" for a literal "${"';
      return match;
    }
    const sep = inner.indexOf(':-');
    const varName = sep < 0 ? inner : inner.slice(0, sep);
    if (!name.test(varName)) {
      malformed ??= `"\${${inner}}" is not a variable reference; expected \${NAME} or \${NAME:-default}`;
      return match;
    }
    const set = env[varName];
    if (sep >= 0) return set === undefined || set === '' ? inner.slice(sep + 2) : set;
    if (set === undefined) missing.push(varName);
    return set ?? '';
  });
  if (malformed !== undefined) return { ok: false, message: malformed, missing };
  if (missing.length > 0) {
    const names = missing.map((n) => `\${${n}}`).join(', ');
    return {
      ok: false,
      message: `environment variable${missing.length > 1 ? 's' : ''} ${names} not set (give a default with \${NAME:-value})`,
      missing,
    };
  }
  return { ok: true, value, expanded: true };
}
