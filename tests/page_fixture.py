# ruff: noqa: E501  (the XML samples keep the long lines of the real exports)
"""Page fixtures: small ALTO v4 / PAGE-XML 2019 files in the real formats, rendered pages, and an
'oracle' detector (a fixed Keras model that marks dark pixels, smeared along lines) so page
reading runs end to end without a trained detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from textrec_cli.data.page_xml import Page, PageLine, to_alto

# the structure of an eScriptorium export (../shared/data/copiste/pages/alto), cut to two lines
ALTO_SAMPLE = """<?xml version='1.0' encoding='UTF-8'?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.loc.gov/standards/alto/ns-v4# http://www.loc.gov/standards/alto/v4/alto-4-2.xsd">
  <Description>
    <MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation>
      <fileName>sample.jpg</fileName>
    </sourceImageInformation>
  </Description>
  <Tags>
    <OtherTag ID="BT60" LABEL="text" DESCRIPTION="block type text" />
    <OtherTag ID="LT60" LABEL="default" DESCRIPTION="line type default" />
  </Tags>
  <Layout>
    <Page WIDTH="1082" HEIGHT="1400" PHYSICAL_IMG_NR="0" ID="eSc_dummypage_">
      <PrintSpace HPOS="0" VPOS="0" WIDTH="1082" HEIGHT="1400">
        <TextBlock HPOS="90" VPOS="59" WIDTH="923" HEIGHT="105" ID="eSc_textblock_1" TAGREFS="BT60">
          <Shape><Polygon POINTS="91 59 1004 59 1013 89 90 95 91 59" /></Shape>
          <TextLine ID="eSc_line_1" TAGREFS="LT60" BASELINE="694 126 992 128" HPOS="693" VPOS="104" WIDTH="299" HEIGHT="38">
            <Shape><Polygon POINTS="694 126 693 142 991 142 992 128 992 113 955 105 694 112 694 126" /></Shape>
            <String CONTENT="imp_wikitexte_0022" HPOS="693" VPOS="104" WIDTH="299" HEIGHT="38" />
          </TextLine>
          <TextLine ID="eSc_line_2" TAGREFS="LT60" BASELINE="159 227 535 223 933 224" HPOS="158" VPOS="194" WIDTH="775" HEIGHT="44">
            <Shape><Polygon POINTS="159 237 931 238 933 224 932 205 907 204 158 196 159 227" /></Shape>
            <String CONTENT="La Fédération du Laos de football" HPOS="158" VPOS="194" WIDTH="775" HEIGHT="44" />
          </TextLine>
        </TextBlock>
      </PrintSpace>
    </Page>
  </Layout>
</alto>
"""

# PAGE-XML 2019 as Transkribus writes it: region, lines with Coords, Baseline, TextEquiv
PAGE_SAMPLE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15 http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15/pagecontent.xsd">
    <Metadata>
        <Creator>Transkribus</Creator>
        <Created>2024-01-01T10:00:00.000+01:00</Created>
        <LastChange>2024-01-01T10:00:00.000+01:00</LastChange>
    </Metadata>
    <Page imageFilename="letter.png" imageWidth="800" imageHeight="600">
        <ReadingOrder>
            <OrderedGroup id="ro_1" caption="Regions reading order">
                <RegionRefIndexed index="0" regionRef="r1"/>
            </OrderedGroup>
        </ReadingOrder>
        <TextRegion id="r1" custom="readingOrder {index:0;}">
            <Coords points="40,40 760,40 760,200 40,200"/>
            <TextLine id="r1l1" custom="readingOrder {index:0;}">
                <Coords points="50,50 700,50 700,100 50,100"/>
                <Baseline points="50,90 700,92"/>
                <Word id="w1"><Coords points="50,50 120,50 120,100 50,100"/>
                    <TextEquiv><Unicode>Dear</Unicode></TextEquiv></Word>
                <TextEquiv conf="0.9">
                    <Unicode>Dear John,</Unicode>
                </TextEquiv>
            </TextLine>
            <TextLine id="r1l2" custom="readingOrder {index:1;}">
                <Coords points="50,120 720,120 720,180 50,180"/>
                <Baseline points="50,165 720,168"/>
                <TextEquiv>
                    <Unicode>how are you?</Unicode>
                </TextEquiv>
            </TextLine>
        </TextRegion>
    </Page>
</PcGts>
"""

TEXTS = ["hello world", "the cat sat", "go on now"]


def render_page(
    texts: list[str] = TEXTS, size: tuple[int, int] = (420, 560), top: int = 60, gap: int = 70
) -> tuple[Image.Image, Page]:
    """A white page with one printed line per text, and its ground truth (polygons, baselines)."""
    font = ImageFont.load_default(size=30)
    image = Image.new("L", size, 245)
    draw = ImageDraw.Draw(image)
    page = Page("page.png", size[0], size[1])
    for i, text in enumerate(texts):
        x, y = 40, top + i * gap
        draw.text((x, y), text, font=font, fill=20)
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        x0, y0, x1, y1 = x0 - 4, y0 - 4, x1 + 4, y1 + 6
        base = y + font.getmetrics()[0]
        page.lines.append(PageLine([(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
                                   [(x0, base), (x1, base)], text, f"l{i}"))  # fmt: skip
    return image, page


def make_pages_folder(folder: Path, n_train: int = 3, n_val: int = 2) -> Path:
    """A real_pages folder like ../shared/data/copiste/pages: images/, alto/, pages.tsv."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "alto").mkdir(exist_ok=True)
    rows = ["image\talto\tpage\tsplit\tlines"]
    for i in range(n_train + n_val):
        texts = TEXTS[i % 3 :] + TEXTS[: i % 3]
        image, page = render_page(texts, top=50 + 7 * i)
        page.image = f"p{i}.png"
        image.save(folder / "images" / page.image)
        (folder / "alto" / f"p{i}.xml").write_bytes(to_alto(page))
        split = "train" if i < n_train else "val"
        rows.append(f"images/p{i}.png\talto/p{i}.xml\tp{i}\t{split}\t{len(texts)}")
    (folder / "pages.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def make_oracle_detector(run_dir: Path) -> Path:
    """A saved 'line_detector' that needs no training: ink, pooled to half size, smeared along x."""
    import keras
    from keras import layers

    from textrec_cli.models.store import save_model

    inputs = layers.Input(shape=(None, None, 1), dtype="uint8")
    x = layers.Rescaling(-1 / 255.0, offset=1.0)(inputs)  # ink -> 1, paper -> ~0
    x = layers.MaxPooling2D(2)(x)
    outputs = layers.MaxPooling2D((3, 13), strides=1, padding="same")(x)  # dilate along the line
    model = keras.Model(inputs, outputs)
    metadata = {"version": "oracle", "task": "line_detector", "model": "oracle",
                "input_shape": [512, None, 1], "output_stride": 2,
                "band_ratios": {"above": 0.3, "below": 0.3}}  # fmt: skip
    return save_model(model, run_dir, metadata)


def blank(size: tuple[int, int] = (600, 800), value: int = 250) -> Image.Image:
    rng = np.random.default_rng(0)
    noise = rng.normal(value, 2, size[::-1]).clip(0, 255).astype(np.uint8)
    return Image.fromarray(noise)
