"""The machine has what later parts of the portal render with: WeasyPrint's libraries and fonts."""


def test_weasyprint_renders_a_pdf_with_the_installed_fonts() -> None:
    from weasyprint import HTML

    pdf = HTML(string="<h1 style='font-family: DejaVu Sans'>Patientresumé — Æ Ø Å</h1>").write_pdf(
        uncompressed_pdf=True
    )
    assert pdf is not None
    assert pdf.startswith(b"%PDF-")
    assert b"DejaVu" in pdf
