/**
 * The error catalogue: one class, a stable code per problem, a default message.
 * Config validation, the admin API and logs all use these codes (documented in README.md).
 */
export const codes = {
  SWY_ERR_CONFIG_READ: 'cannot read the config file',
  SWY_ERR_CONFIG_YAML: 'the config file is not valid YAML',
  SWY_ERR_CONFIG_INVALID: 'the config is invalid',
  SWY_ERR_CONFIG_ENV: 'an environment variable named in the config is not set',
  SWY_ERR_LISTEN: 'cannot listen on the address',
  SWY_ERR_PROXY_HEADER: 'malformed PROXY protocol header',
  SWY_ERR_ADMIN_UNAUTHORIZED: 'a bearer token is required',
  SWY_ERR_ADMIN_NOT_FOUND: 'no such service or member',
  SWY_ERR_ADMIN_BAD_REQUEST: 'bad request',
  SWY_ERR_RELOAD: 'the new config was refused; the running one stays',
  SWY_ERR_ADMIN_FORBIDDEN: 'a cross-site request to the admin API was refused',
  SWY_ERR_ADMIN_METHOD: 'method not allowed',
  SWY_ERR_ADMIN_TOO_LARGE: 'the request body is too large',
  SWY_ERR_ADMIN_INTERNAL: 'the admin API failed to answer',
} as const;

export type ErrorCode = keyof typeof codes;

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? codes[code], options);
    this.name = 'SwitchyardError';
    this.code = code;
  }
}
