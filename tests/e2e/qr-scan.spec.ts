/**
 * Scanning an invite's QR code with the camera: Chromium's fake camera plays a video of Alice's code (made
 * here from her link), and Bob's "Scan a QR code" reads it (BarcodeDetector where the browser has one for
 * QR codes, else the jsQR decoder), adds Alice and opens the chat.
 */
import { chromium } from '@playwright/test'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import QRCode from 'qrcode'
import { CHROMIUM_ARGS } from '../../playwright.config.ts'
import { chats, createAccount, expect, inviteLinkOf, log, send, test } from './fixtures.ts'

/** A few frames of a 640×480 Y4M video (4:2:0) showing `text` as a QR code. */
function qrVideo(text: string): Buffer {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' })
  const n = qr.modules.size
  const [w, h] = [640, 480]
  const scale = Math.floor((h - 20) / (n + 8))
  const side = (n + 8) * scale
  const [x0, y0] = [(w - side) >> 1, (h - side) >> 1]
  const y = Buffer.alloc(w * h, 255)
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++)
      if (qr.modules.get(r, c))
        for (let dy = 0; dy < scale; dy++)
          y.fill(
            0,
            (y0 + (r + 4) * scale + dy) * w + x0 + (c + 4) * scale,
            (y0 + (r + 4) * scale + dy) * w + x0 + (c + 5) * scale,
          )
  const chroma = Buffer.alloc((w / 2) * (h / 2) * 2, 128)
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma])
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${w} H${h} F5:1 Ip A1:1 C420jpeg\n`), frame, frame, frame])
}

test('scan an invite QR code with the camera', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  const link = await inviteLinkOf(alice.page)
  const dir = await mkdtemp(join(tmpdir(), 'paloma-camera-'))
  const video = join(dir, 'invite.y4m')
  await writeFile(video, qrVideo(link))
  const camera = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      ...CHROMIUM_ARGS,
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  })
  try {
    const context = await camera.newContext({ locale: 'en-US' })
    await context.grantPermissions(['camera'], { origin: new URL(paloma.web.url).origin })
    const page = await context.newPage()
    await page.goto(paloma.web.url)
    await createAccount(page, 'bob')
    await page.getByRole('button', { name: 'Add contact' }).click()
    const dialog = page.getByRole('dialog', { name: 'Add contact' })
    await dialog.getByRole('button', { name: 'Scan a QR code' }).click()
    await expect(dialog).toBeHidden()
    await expect(chats(page).getByRole('listitem', { name: 'alice' })).toBeVisible()
    await send(page, 'I scanned you')
    await expect(chats(alice.page).getByRole('listitem', { name: 'bob' })).toContainText('I scanned you')
    await chats(alice.page).getByRole('listitem', { name: 'bob' }).getByRole('button').click()
    await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['I scanned you'])
  } finally {
    await camera.close()
    await rm(dir, { recursive: true, force: true })
  }
})
