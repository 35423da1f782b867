// Decodes a data:image/png QR code the way an authenticator app's camera would.
import jsQR from 'jsqr';
import { PNG } from 'pngjs';

export function decodeQrDataUrl(dataUrl: string): string {
  const prefix = 'data:image/png;base64,';
  if (!dataUrl.startsWith(prefix)) throw new Error('not a PNG data URL');
  const png = PNG.sync.read(Buffer.from(dataUrl.slice(prefix.length), 'base64'));
  const result = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!result) throw new Error('no QR code found');
  return result.data;
}
