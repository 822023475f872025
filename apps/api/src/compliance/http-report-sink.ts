/**
 * Writes a streamed report to an HTTP response: headers before the first byte (type, file name,
 * signing key id, and for HTML a Content-Security-Policy that allows only the report's own style),
 * each chunk as it comes with backpressure (waits for 'drain'; stops when the client goes away),
 * and the body's SHA-256 and signature also as HTTP trailers once the last byte is out.
 */
import type { Response } from 'express';
import type { ReportResponseMeta, ReportSignatureBlock, ReportSink } from '@app/reports';

export class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGoneError';
  }
}

export class HttpReportSink implements ReportSink {
  constructor(private readonly res: Response) {}

  start(meta: ReportResponseMeta): void {
    const res = this.res;
    res.status(200);
    res.setHeader('Content-Type', meta.contentType);
    res.setHeader('Content-Disposition', `${meta.query.format === 'csv' ? 'attachment' : 'inline'}; filename="${meta.fileName}"`);
    res.setHeader('Report-Key-Id', meta.keyId);
    res.setHeader('Report-Generated-At', meta.generatedAt);
    res.setHeader('Trailer', 'Report-Sha256, Report-Signature');
    if (meta.styleHash) {
      res.setHeader('Content-Security-Policy', `default-src 'none'; style-src ${meta.styleHash}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`);
    }
  }

  async write(chunk: Buffer): Promise<void> {
    const res = this.res;
    if (res.destroyed || res.writableEnded) throw new ClientGoneError();
    if (res.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        res.off('drain', onDrain);
        res.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new ClientGoneError());
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
  }

  async finish(block: ReportSignatureBlock): Promise<void> {
    this.res.addTrailers({ 'Report-Sha256': block.reportSha256, 'Report-Signature': block.signature });
    this.res.end();
  }
}
