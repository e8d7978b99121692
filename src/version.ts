// The build replaces __DDX_SHARE_VERSION__ with package.json's version; sources run by the tests
// directly report a development version instead.
declare const __DDX_SHARE_VERSION__: string | undefined;

export const VERSION: string =
  typeof __DDX_SHARE_VERSION__ === 'string' ? __DDX_SHARE_VERSION__ : '0.0.0-dev';
