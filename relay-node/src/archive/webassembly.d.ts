// The part of WebAssembly's JavaScript API the relay uses (compiling 7-Zip once, instantiating it in a
// thread). TypeScript keeps these types in its DOM library, which this project does not load: it
// compiles for Node and workerd, not for a browser.
declare namespace WebAssembly {
  interface Module {
    readonly __brand?: "WebAssembly.Module";
  }
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  type Imports = Record<string, Record<string, unknown>>;
  function compile(bytes: Uint8Array): Promise<Module>;
  function instantiate(module: Module, imports?: Imports): Promise<Instance>;
}
