/** The part of cliui (yargs' own column layout, 9.x ships no types) that src/cli/help.ts uses. */
declare module 'cliui' {
  interface Column {
    text: string;
    width?: number;
    /** top, right, bottom, left */
    padding?: [number, number, number, number];
  }
  interface UI {
    div(...columns: Array<string | Column>): void;
    toString(): string;
  }
  export default function cliui(options?: { width?: number; wrap?: boolean }): UI;
}
