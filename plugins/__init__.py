"""The bot's plugins: each module defines `router = Router()` (see whatsapp.bot and README "Writing plugins")."""
