import { expect, test } from './fixtures.ts'
import type { Page } from '@playwright/test'

test.use({ locale: 'es-ES' })

async function crear(page: Page, name: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Nombre de usuario' }).fill(name)
  await page.getByLabel('Frase de paso', { exact: true }).fill('caballo correcto grapa pila')
  await page.getByLabel('Repite la frase de paso').fill('caballo correcto grapa pila')
  await page.getByRole('button', { name: 'Crear cuenta' }).click()
  await expect(page.getByRole('status', { name: 'Conexión' })).toHaveText('En línea')
}

test('the whole UI in Spanish, end to end (es-ES)', async ({ paloma }) => {
  const ana = await paloma.blank()
  const beto = await paloma.blank()
  await expect(ana.page.locator('html')).toHaveAttribute('lang', 'es')
  await expect(ana.page.getByRole('heading', { name: 'Crea tu cuenta' })).toBeVisible()
  // An error, in Spanish.
  await ana.page.getByRole('textbox', { name: 'Nombre de usuario' }).fill('ana')
  await ana.page.getByLabel('Frase de paso', { exact: true }).fill('corta')
  await ana.page.getByLabel('Repite la frase de paso').fill('corta')
  await ana.page.getByRole('button', { name: 'Crear cuenta' }).click()
  await expect(ana.page.getByRole('alert')).toHaveText('Usa al menos 8 caracteres.')
  await crear(ana.page, 'ana')
  await crear(beto.page, 'beto')

  await ana.page.getByRole('button', { name: 'Compartir invitación' }).click()
  const invitacion = ana.page.getByRole('dialog', { name: 'Compartir invitación' })
  await expect(invitacion.getByRole('img', { name: 'Código QR de invitación' })).toBeVisible()
  const link = await invitacion.getByRole('textbox', { name: 'Enlace de invitación' }).inputValue()
  await invitacion.getByRole('button', { name: 'Cerrar' }).click()

  await beto.page.getByRole('button', { name: 'Añadir contacto' }).click()
  const añadir = beto.page.getByRole('dialog', { name: 'Añadir contacto' })
  await añadir.getByRole('textbox', { name: 'Enlace de invitación o nombre de usuario' }).fill(link)
  await añadir.getByRole('button', { name: 'Añadir', exact: true }).click()
  await beto.page.getByRole('textbox', { name: 'Mensaje' }).fill('¡Hola, Ana!')
  await beto.page.getByRole('button', { name: 'Enviar' }).click()

  await ana.page
    .getByRole('list', { name: 'Chats' })
    .getByRole('listitem', { name: 'beto' })
    .getByRole('button')
    .click()
  const mensajes = ana.page.getByRole('log', { name: 'Mensajes' })
  await expect(mensajes.locator('li[data-direction="in"]')).toHaveText(['¡Hola, Ana!'])
  await expect(mensajes.getByRole('heading', { name: 'Hoy' })).toBeVisible()
  await expect(beto.page.getByRole('img', { name: 'Leído' })).toBeVisible()
  await expect(ana.page.getByText('Conexión directa')).toBeVisible()

  await ana.page.getByRole('button', { name: 'Ajustes' }).click()
  const ajustes = ana.page.getByRole('dialog', { name: 'Ajustes' })
  await expect(ajustes.getByRole('checkbox', { name: 'Notificaciones', exact: true })).toBeChecked()
  await expect(
    ajustes.getByRole('checkbox', { name: 'Mostrar el texto del mensaje en las notificaciones' }),
  ).not.toBeChecked()
  await expect(ajustes.getByRole('combobox', { name: 'Idioma' })).toHaveValue('es')
  await ajustes.getByRole('combobox', { name: 'Tema' }).selectOption('dark')
  await expect(ana.page.locator('html')).toHaveAttribute('data-theme', 'dark')
  await ajustes.getByRole('button', { name: 'Cerrar' }).click()
  await ana.page.getByRole('button', { name: 'Detalles de la conexión' }).click()
  const detalles = ana.page.getByRole('dialog', { name: 'Detalles de la conexión' })
  await expect(detalles).toContainText('conectado')
  await expect(detalles).toContainText('directo (WebRTC)')
  await ana.page.keyboard.press('Escape')
  await expect(detalles).toBeHidden()

  // Lock, a wrong passphrase (in Spanish), and back in; language and theme hold on the unlock screen.
  await ana.page.getByRole('button', { name: 'Bloquear', exact: true }).click()
  await ana.page.getByLabel('Frase de paso', { exact: true }).fill('no es la mía')
  await ana.page.getByRole('button', { name: 'Desbloquear' }).click()
  await expect(ana.page.getByRole('alert')).toContainText('Frase de paso incorrecta')
  await expect(ana.page.locator('html')).toHaveAttribute('data-theme', 'dark')
  await ana.page.reload()
  await expect(ana.page.getByRole('combobox', { name: 'Tema' })).toHaveValue('dark')
  await ana.page.getByRole('combobox', { name: 'Idioma' }).selectOption('en')
  await expect(ana.page.getByRole('button', { name: 'Unlock' })).toBeVisible()
})
