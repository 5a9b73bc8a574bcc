"""``python -m bot leaflet SCAM_ID``: a one-page A4 leaflet in large Chinese type for grid workers.

Title, the scam in a few lines, red flags, what to do, the hotlines and a QR code to
the bot, all from content/ and config.yml (fpdf2 embeds a CJK font installed with
Debian's fonts-noto-cjk, so the PDF prints and its text can be searched).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from bot.config import Settings
from bot.fonts import chinese_font
from bot.scams import ScamType

RED, INK, GREY = (179, 38, 30), (27, 27, 27), (90, 90, 90)


def _qr_png(url: str) -> BytesIO:
    import qrcode

    image = qrcode.make(url, box_size=10, border=2)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


def qr_target(settings: Settings) -> str:
    """Where the leaflet's QR code points: the centre's web chat or WeChat account, never Telegram (unreachable in
    mainland China). Empty when none is configured: the leaflet then shows the hotlines only."""
    raw = settings.raw
    url = str((raw.get("leaflet") or {}).get("bot_url") or ((raw.get("channels") or {}).get("web") or {}).get("public_url") or "")
    return "" if "t.me/" in url or "telegram" in url.lower() else url


def render(scam: ScamType, settings: Settings, out: Path) -> Path:
    """Write the leaflet PDF for ``scam`` to ``out``."""
    from fpdf import FPDF

    regular, bold = chinese_font(), chinese_font(bold=True)
    hotlines = settings.hotlines
    bot_url = qr_target(settings)

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(16, 14, 16)
    pdf.add_page()
    pdf.add_font("cjk", "", regular.path, collection_font_number=regular.face)
    pdf.add_font("cjk", "B", bold.path, collection_font_number=bold.face)
    pdf.set_title(f"警惕{scam.name}")
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_fill_color(*RED)
    pdf.rect(0, 0, pdf.w, 46, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("cjk", "B", 30)
    pdf.set_xy(pdf.l_margin, 10)
    pdf.multi_cell(width, 13, f"警惕{scam.name}", align="C")
    pdf.set_font("cjk", "", 15)
    pdf.set_x(pdf.l_margin)
    pdf.cell(width, 8, settings.centre_name + " 提醒您", align="C")

    def heading(text: str, y_gap: float = 6) -> None:
        pdf.ln(y_gap)
        pdf.set_text_color(*RED)
        pdf.set_font("cjk", "B", 21)
        pdf.set_x(pdf.l_margin)
        pdf.cell(width, 11, text)
        pdf.ln(12)

    def lines(items, size: int = 17, bullet: str = "● ") -> None:
        pdf.set_text_color(*INK)
        pdf.set_font("cjk", "", size)
        for item in items:
            pdf.set_x(pdf.l_margin)
            pdf.multi_cell(width, size * 0.5, f"{bullet}{item}")
            pdf.ln(1.5)

    pdf.set_y(52)
    heading("这是什么骗局", 0)
    lines([scam.summary], 18, "")
    heading("危险信号")
    lines(scam.red_flags[:5])
    heading("遇到了怎么办")
    lines(scam.advice[:4])

    top = 232
    pdf.set_draw_color(*RED)
    pdf.set_line_width(1.2)
    box_width = width - 52 if bot_url else width
    pdf.rect(pdf.l_margin, top, box_width, 48)
    pdf.set_xy(pdf.l_margin + 4, top + 5)
    pdf.set_text_color(*RED)
    pdf.set_font("cjk", "B", 24)
    pdf.cell(box_width - 8, 12, f"正在被骗，立即拨打 {hotlines.get('police') or '110'}")
    pdf.set_xy(pdf.l_margin + 4, top + 19)
    pdf.set_text_color(*INK)
    pdf.set_font("cjk", "", 19)
    pdf.cell(box_width - 8, 10, f"反诈咨询 {hotlines.get('antifraud') or '96110'}")
    if hotlines.get("local"):
        pdf.set_xy(pdf.l_margin + 4, top + 31)
        pdf.cell(box_width - 8, 10, f"本地反诈中心 {hotlines['local']}")
    if bot_url:
        pdf.image(_qr_png(bot_url), x=pdf.w - pdf.r_margin - 46, y=top - 2, w=46, h=46)
        pdf.set_xy(pdf.w - pdf.r_margin - 50, top + 44)
        pdf.set_font("cjk", "", 11)
        pdf.set_text_color(*GREY)
        pdf.cell(54, 6, "扫码问反诈助手", align="C")
    pdf.set_xy(pdf.l_margin, 286)
    pdf.set_font("cjk", "", 10)
    pdf.set_text_color(*GREY)
    pdf.cell(width, 5, "下载“国家反诈中心”APP，开启来电预警。陌生人让转账，先挂电话再核实。", align="C")
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out
