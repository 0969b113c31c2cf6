"""A certificate (a cohort's 结业证书, a credit cycle's 培训学时证书) as one A4 landscape page of PDF, with its
verification code as a QR code.

The Chinese text uses reportlab's built-in CID font STSong-Light: PDF readers supply its
glyphs (Adobe's Asian font packs, which every major reader has), so no font file ships
with the service and the document stays small. The QR code holds the verification
address, so a phone held over the paper asks the history whether the certificate is real.
"""

from __future__ import annotations

from io import BytesIO

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from cohortflow.domain.events import CertificateIssued

FONT = "STSong-Light"
TITLES = {"completion": "结业证书", "credit_cycle": "培训学时证书"}
QR_SIZE = 38 * mm


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():  # on first use, not at import
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def hours_text(hours: float) -> str:
    return f"{hours:g}"


def body_lines(c: CertificateIssued) -> list[str]:
    """The certificate's wording, one printed line each."""
    if c.kind == "credit_cycle":
        return [
            f"{c.name} 同志（身份证号 {c.national_id_masked}）：",
            f"在 {c.cycle} 周期内累计完成培训 {hours_text(c.credit_hours)} 学时，",
            f"达到“{c.requirement}”的要求。",
            f"认定日期：{c.completed_on.year}年{c.completed_on.month}月{c.completed_on.day}日",
        ]
    return [
        f"{c.name} 同志（身份证号 {c.national_id_masked}）：",
        f"参加“{c.programme_name}”培训（{c.cohort_id} 期），",
        f"完成规定的学习任务，经考核合格，准予结业，获得 {hours_text(c.credit_hours)} 学时。",
        f"结业日期：{c.completed_on.year}年{c.completed_on.month}月{c.completed_on.day}日",
    ]


def render(certificate: CertificateIssued, verify_url: str) -> bytes:
    """The certificate as PDF bytes; ``verify_url`` is the address the QR code and the footer give."""
    font = _font()
    out = BytesIO()
    width, height = landscape(A4)
    canvas = Canvas(out, pagesize=(width, height), invariant=True)  # the same certificate, the same bytes
    title = TITLES[certificate.kind]
    canvas.setTitle(f"{title} {certificate.code}")
    canvas.setLineWidth(2)
    canvas.rect(15 * mm, 15 * mm, width - 30 * mm, height - 30 * mm)
    canvas.setFont(font, 40)
    canvas.drawCentredString(width / 2, height - 50 * mm, title)
    canvas.setFont(font, 16)
    y = height - 80 * mm
    for line in body_lines(certificate):
        canvas.drawString(35 * mm, y, line)
        y -= 12 * mm
    canvas.setFont(font, 12)
    canvas.drawString(35 * mm, 40 * mm, f"验证码：{certificate.code}")
    canvas.drawString(35 * mm, 32 * mm, f"验证网址：{verify_url}")
    qr = QrCodeWidget(verify_url)
    left, bottom, right, top = qr.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE, transform=[QR_SIZE / (right - left), 0, 0, QR_SIZE / (top - bottom), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, canvas, width - 35 * mm - QR_SIZE, 25 * mm)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
