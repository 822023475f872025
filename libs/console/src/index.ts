/** Web console library (issue 14): local accounts, sessions, sign-in (local and OpenID Connect), safe Markdown. */
export * from './password-hasher';
export * from './console-accounts.port';
export * from './console-store';
export * from './console-sessions';
export * from './pre-auth-cookie';
export * from './local-sign-in';
export * from './oidc-sign-in';
export * from './markdown';
export * from './sign-in-failures.port';
export * from './memory-sign-in-failures';
