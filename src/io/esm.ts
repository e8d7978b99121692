// The prompt packages are ES modules, imported only when a person is asked something. The
// built CLI runs as a script compiled with V8's code cache (see src/boot.ts), where import()
// is not available, so the loader hands in an importer of its own; in-process callers such as
// the tests have none and use import() directly.

type Importer = (specifier: string) => Promise<unknown>;

let host: Importer | undefined;

/** Set once by the loader, before the first command runs. */
export function setEsmImporter(importer: Importer): void {
  host = importer;
}

export function importEsm<T>(specifier: string): Promise<T> {
  return (host ? host(specifier) : import(specifier)) as Promise<T>;
}
