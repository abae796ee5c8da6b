"""Media echo: an image sent to the bot comes back with its dimensions as the caption.

It shows the media API of a plugin: `ctx.media` (what arrived), `await ctx.download()` (the checked,
decrypted bytes; over BOT_MAX_DOWNLOAD_MB it raises MediaTooLarge) and `ctx.reply_image(...)`. The
dimensions are read from the PNG, JPEG, WebP or GIF header (whatsapp/media_sniff.py), no imaging library.
It answers images in one-to-one chats, and in groups those captioned `!size`, so it stays quiet in busy groups.
"""

from __future__ import annotations

from loguru import logger

from whatsapp.bot import Context, F, Router
from whatsapp.errors import MediaError
from whatsapp.media_sniff import image_size

router = Router(name="media_echo")


def describe(data: bytes, mimetype: str | None) -> str:
    """`640×480 image/png, 12.3 kB`, or what is known when the header is not one we read."""
    size = image_size(data)
    dimensions = f"{size[0]}×{size[1]}" if size else "unknown size"
    return f"{dimensions} {mimetype or 'image'}, {len(data) / 1000:.1f} kB"


@router.message(F.media.type == "image", F.private | F.text.lower().startswith("!size"))
async def echo_image(ctx: Context) -> None:
    """Answers an image with its dimensions, and sends it back."""
    media = ctx.media
    assert media is not None  # the filter matched an image
    try:
        data = await ctx.download()
    except MediaError as exc:  # the library logged the cause already, in one line
        logger.info("media_echo: image {} not echoed: {}", ctx.event.id, type(exc).__name__)
        await ctx.reply(f"I could not fetch that image ({type(exc).__name__}).")
        return
    await ctx.reply_image(data, caption=describe(data, media.mimetype))
