/** Control flow of console pages that is not an HTTP problem: send the browser elsewhere. */
export class ConsoleRedirect extends Error {
  constructor(readonly location: string) {
    super('redirect');
  }
}
