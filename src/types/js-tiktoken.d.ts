// js-tiktoken's rank tables ship types only under its `exports` map, which the classic
// CommonJS resolution we compile with does not read; declare the one table we use.
declare module 'js-tiktoken/ranks/o200k_base' {
  import type { TiktokenBPE } from 'js-tiktoken/lite';
  const ranks: TiktokenBPE;
  export default ranks;
}
