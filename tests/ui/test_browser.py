"""The character UI in real Chromium, against the real API, Prefect server and worker."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from likeness.identity.status import Status
from likeness.orchestration.stack import free_port
from tests import images
from tests.api.conftest import TOKEN
from tests.conftest import api_process
from tests.factories import extracted_cast, faces_of, load_character, new_character

CHROMIUM = os.environ.get("LIKENESS_CHROMIUM", "/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def live_server(prefect_server: object, likeness_home: Path) -> Iterator[str]:
    with api_process(likeness_home / "api-ui.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), (
        f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set LIKENESS_CHROMIUM)"
    )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context.new_page()
    context.close()


@pytest.mark.usefixtures("worker")
def test_upload_pick_a_face_and_see_it_completed(page: Page, live_server: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.goto(live_server)
    page.fill("input[name=name]", "Friends")
    page.fill("input[name=project]", "sitcom")
    page.set_input_files("input[name=image]", str(images.photo("t1.jpg")))
    page.click("#upload-form button[type=submit]")

    card = page.locator(".card", has_text="Friends")
    expect(card.locator(".badge-multi_face_pending")).to_be_visible(timeout=180_000)  # orange
    page.screenshot(path=str(OUTPUT / "ui-cards.png"), full_page=True)
    card.locator("a.action").click()

    faces = page.locator("#selector .face")
    expect(faces).to_have_count(6)
    chosen = faces.nth(2)
    confidence = chosen.get_attribute("data-confidence")
    chosen.click()

    expect(page.locator("#panel .badge-completed")).to_contain_text(f"completed · {confidence}")
    expect(page.locator("#selector .face.selected")).to_have_count(1)
    expect(page.locator("#selector .face.selected")).to_have_attribute(
        "data-confidence", confidence or ""
    )
    page.screenshot(path=str(OUTPUT / "ui-selector.png"), full_page=True)


@pytest.mark.usefixtures("face_engine")
def test_boxes_stay_on_the_faces_at_any_display_size(page: Page, live_server: str) -> None:
    character_id = new_character(images.photo("t1.jpg"))
    extract_character_embedding(character_id)
    face = faces_of(character_id)[0]
    box = face.bounding_box

    for width in (1200, 480):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/characters/{character_id}")
        image = page.locator("#selector img").bounding_box()
        drawn = page.locator(f"#selector .face[data-face-id='{face.id}']").bounding_box()
        assert image and drawn
        scale = image["width"] / 1280  # t1.jpg is 1280 px wide
        assert abs(drawn["x"] - image["x"] - box["x"] * scale) < 2
        assert abs(drawn["y"] - image["y"] - box["y"] * scale) < 2
        assert abs(drawn["width"] - box["width"] * scale) < 2


@pytest.mark.usefixtures("face_engine")
def test_low_confidence_character_shows_the_dismissible_warning(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    OUTPUT.mkdir(exist_ok=True)
    crop = images.crop_square(
        images.photo("players.jpg"), images.LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, tmp_path / "l.png"
    )
    character_id = new_character(crop, name="Extra")
    assert extract_character_embedding(character_id) == "low_confidence"
    confidence = f"{faces_of(character_id)[0].confidence:.2f}"

    page.goto(f"{live_server}/characters/{character_id}")

    warning = page.locator(".warning")
    expect(warning).to_contain_text(
        f"Face detection confidence is low ({confidence}) — this may cause unreliable quality "
        "checks. Consider using a clearer source image."
    )
    expect(warning).to_contain_text("threshold 0.70")
    expect(page.locator(".badge-low_confidence")).to_contain_text(confidence)
    page.screenshot(path=str(OUTPUT / "ui-low-confidence.png"), full_page=True)
    warning.locator(".dismiss").click()
    expect(page.locator(".warning")).to_have_count(0)


def test_api_docs_render_offline_under_the_security_policy(page: Page, live_server: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))

    page.goto(f"{live_server}/docs")

    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    assert page.locator(".opblock").count() >= 15
    assert all(url.startswith(live_server) for url in requested), requested
    assert not [p for p in problems if "Content Security Policy" in p], problems


@contextmanager
def page_on_another_port(html: str) -> Iterator[str]:
    """An attacker's page served from another port of 127.0.0.1: the "same site" to the
    browser's SameSite cookies, another origin to the API."""

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Attacker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.mark.usefixtures("face_engine", "prefect_server")
def test_a_page_on_another_local_port_cannot_act_with_the_login(
    page: Page, likeness_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    monkeypatch.setenv("LIKENESS_API_TOKEN", TOKEN)
    with api_process(likeness_home / "api-csrf.log") as api:
        page.goto(f"{api}/login")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        expect(page.locator("#upload-form")).to_be_visible()  # signed in
        attack = f"""<!doctype html><body>
          <form id="queue" method="post"
                action="{api}/api/characters/{character_id}/extract-embedding"></form>
          <script>
            const data = new FormData();
            data.append("name", "planted");
            data.append("image", new Blob(["GIF89a"], {{type: "image/gif"}}), "x.gif");
            fetch("{api}/api/characters", {{method: "POST", mode: "no-cors",
                                             credentials: "include", body: data}})
              .finally(() => document.getElementById("queue").submit());
          </script></body>"""
        with page_on_another_port(attack) as evil:
            page.goto(evil)
            page.wait_for_url(f"{api}/api/characters/{character_id}/extract-embedding")
            refusal = page.locator("body").inner_text()

    assert "state changes must come from this site" in refusal
    assert load_character(character_id).status is Status.COMPLETED
    with transaction() as session:
        assert [c.id for c in repository.list_characters(session)] == [character_id]


@pytest.mark.usefixtures("face_engine")
def test_a_long_failure_reason_keeps_its_card_tidy_and_opens_in_one_click(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    OUTPUT.mkdir(exist_ok=True)
    fine = new_character(images.photo("yaoming.jpg"), name="Fine")
    extract_character_embedding(fine)
    broken = new_character(images.truncated_jpeg(tmp_path / "a-rather-long-file-name.jpg"))
    extract_character_embedding(broken)
    reason = load_character(broken).embedding_error or ""
    assert len(reason) > 80

    page.set_viewport_size({"width": 900, "height": 900})
    page.goto(live_server)
    card = page.locator(f".card[data-character-id='{broken}']")
    healthy = page.locator(f".card[data-character-id='{fine}']")
    summary = card.locator(".reason summary")

    card_box, healthy_box = card.bounding_box(), healthy.bounding_box()
    assert card_box and healthy_box
    assert card_box["width"] == healthy_box["width"]  # the reason does not widen its card
    assert card.evaluate("c => c.scrollWidth <= c.clientWidth")
    assert summary.evaluate("s => s.offsetHeight < 30")  # one clipped line
    expect(card.locator(".reason p")).not_to_be_visible()
    page.screenshot(path=str(OUTPUT / "ui-failed-card.png"), full_page=True)

    summary.click()

    expect(card.locator(".reason p")).to_have_text(reason)
    assert card.evaluate("c => c.scrollWidth <= c.clientWidth")


def test_likely_duplicates_are_shown_side_by_side(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    OUTPUT.mkdir(exist_ok=True)
    extracted_cast(tmp_path)
    with transaction() as session:
        project_id = repository.project_id_of(session, name="cast")

    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Duplicates").click()
    page.select_option("select[name=project_id]", str(project_id))
    page.get_by_role("button", name="Show").click()

    pair = page.locator(".pair")
    expect(pair).to_have_count(1)
    expect(pair.locator("a span")).to_have_text(["Yao", "Yao in the team"])
    expect(pair.locator(".distance")).to_contain_text("similarity 0.6")
    for image in pair.locator("img").all():  # loaded (lazily, maybe later), not broken
        assert image.evaluate(
            "async img => { await img.decode().catch(() => null);"
            " return img.complete && img.naturalWidth > 0; }"
        )
    page.screenshot(path=str(OUTPUT / "ui-duplicates.png"), full_page=True)

    page.fill("input[name=max_distance]", "0.2")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".pair")).to_have_count(0)
    expect(page.locator(".empty")).to_be_visible()


@pytest.mark.usefixtures("worker")
def test_references_strip_mismatch_keep_remove_and_a_face_per_reference(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    OUTPUT.mkdir(exist_ok=True)
    yao = new_character(images.photo("yaoming.jpg"), name="Yao")
    assert extract_character_embedding(yao) == "completed"
    team = images.crop_square(
        images.photo("players.jpg"), images.YAO_MING_IN_PLAYERS, 1.0, tmp_path / "team.png"
    )
    page.goto(f"{live_server}/characters/{yao}")
    strip = page.locator(".reference-strip .reference")
    expect(strip).to_have_count(0)  # one reference, the source image: the page as it was
    expect(page.locator(".references")).to_contain_text("1 reference")

    def add(image: Path) -> None:
        page.set_input_files("#reference-form input[name=image]", str(image))
        page.click("#reference-form button[type=submit]")

    add(team)
    expect(strip).to_have_count(2)
    expect(strip.nth(1).locator(".badge-completed")).to_be_visible(timeout=120_000)
    expect(page.locator(".consistency")).to_contain_text("2 in the identity template")
    similarity = load_character(yao).template_min_similarity
    assert similarity is not None
    expect(page.locator("[data-consistency-min]")).to_have_text(f"{similarity:.2f}")

    add(images.photo("Tom_Hanks_54745.png"))
    warning = page.locator(".alert.mismatch")
    expect(warning).to_contain_text("This reference may show a different person", timeout=120_000)
    page.screenshot(path=str(OUTPUT / "ui-references-mismatch.png"), full_page=True)
    warning.get_by_role("button", name="Keep").click()
    expect(page.locator(".alert.mismatch")).to_have_count(0)
    expect(strip.nth(2)).to_contain_text("kept by a person")
    expect(page.locator(".consistency")).to_contain_text("3 in the identity template")

    page.once("dialog", lambda dialog: dialog.accept())
    strip.nth(2).get_by_role("button", name="Remove").click()
    expect(strip).to_have_count(2)
    expect(page.locator(".consistency")).to_contain_text("2 in the identity template")

    add(images.photo("players.jpg"))  # a group photo: this reference waits for its face
    expect(strip.nth(2).locator(".badge-multi_face_pending")).to_be_visible(timeout=120_000)
    strip.nth(2).locator("a.action").click()
    expect(page.locator("h1")).to_have_text("Yao · reference")
    group = next(r for r in repository_references(yao) if r.status is Status.MULTI_FACE_PENDING)
    x, y = images.YAO_MING_IN_PLAYERS[:2]
    face = min(
        faces_of(group.id),
        key=lambda f: abs(f.bounding_box["x"] - x) + abs(f.bounding_box["y"] - y),
    )
    page.locator(f"#selector .face[data-face-id='{face.id}']").click()
    expect(page.locator("#selector .face.selected")).to_have_count(1)
    page.get_by_role("link", name="← Yao").click()
    expect(page.locator(".consistency")).to_contain_text("3 in the identity template")
    page.screenshot(path=str(OUTPUT / "ui-references.png"), full_page=True)


def repository_references(character_id: int) -> list[Character]:
    with transaction() as session:
        return repository.references_of(session, character_id=character_id)


@pytest.mark.usefixtures("worker")
def test_check_an_image_shows_each_face_boxed_with_its_verdict_and_past_checks_go_stale(
    page: Page, live_server: str
) -> None:
    from likeness.devtools.published_photos import published_photos
    from likeness.storage import get_store
    from tests.factories import request_replacement, stored

    OUTPUT.mkdir(exist_ok=True)
    people = published_photos()
    obama = new_character(people["Barack Obama"][0], name="Obama")
    assert extract_character_embedding(obama) == "completed"
    page.goto(f"{live_server}/characters/{obama}")

    page.set_input_files("#check-form input[name=image]", str(people["Barack Obama"][1]))
    page.click("#check-form button[type=submit]")
    expect(page.locator("#check-result .face.verdict-match")).to_have_count(1, timeout=60_000)
    expect(page.locator("#check-result .verdicts")).to_contain_text("Face 1: same person")
    page.set_input_files("#check-form input[name=image]", str(images.photo("t1.jpg")))
    page.click("#check-form button[type=submit]")
    expect(page.locator("#check-result .face.verdict-no_match")).to_have_count(6, timeout=60_000)
    expect(page.locator("#check-result .verdicts li").first).to_contain_text("different person")
    # Each box lies on its face: the first of t1.jpg (1280 px wide) at its place.
    image = page.locator("#check-result img").bounding_box()
    drawn = page.locator("#check-result .face").first.bounding_box()
    assert image and drawn and image["x"] <= drawn["x"] < image["x"] + image["width"]
    page.screenshot(path=str(OUTPUT / "ui-check-image.png"), full_page=True)

    # Past checks: a batch's summary, current, then stale once the reference changes.
    frames = [stored(people["Barack Obama"][2], "test"), stored(people["Joe Biden"][0], "test")]
    keys = [get_store().key_of(str(frame)) for frame in frames]
    with transaction() as session:
        check = repository.create_check(
            session,
            kind="verify",
            project_id=load_character(obama).project_id,
            character_id=obama,
            model_pack="buffalo_s",
            image_keys=keys,
            discard_after=False,
            candidates=1,
        ).id
    from likeness.flows.likeness_check import run_likeness_check

    assert run_likeness_check(check) == "completed"
    page.reload()
    row = page.locator(f".checks tr[data-check-id='{check}']")
    expect(row).to_contain_text("50 %")
    expect(row).to_contain_text("current")
    request_replacement(obama, stored(people["Barack Obama"][2]))
    assert extract_character_embedding(obama) == "completed"
    page.reload()
    expect(row.locator(".stale")).to_contain_text("stale (2)")


@pytest.mark.usefixtures("face_engine")
def test_a_weak_face_says_why_on_its_card_its_page_and_in_the_selector(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    from PIL import Image, ImageFilter

    from likeness.devtools.published_photos import published_photos

    OUTPUT.mkdir(exist_ok=True)
    blurred = tmp_path / "obama-blurred.jpg"
    with Image.open(published_photos()["Barack Obama"][0]) as photo:
        photo.convert("RGB").filter(ImageFilter.GaussianBlur(6)).save(blurred, quality=90)
    soft = new_character(blurred, name="Soft")
    assert extract_character_embedding(soft) == "completed"  # confident, but poor quality
    crop = images.crop_square(
        images.photo("players.jpg"), images.LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, tmp_path / "l.png"
    )
    small = new_character(crop, name="Small")
    assert extract_character_embedding(small) == "low_confidence"
    team = new_character(images.photo("players.jpg"), name="Team")
    assert extract_character_embedding(team) == "multi_face_pending"

    page.goto(live_server)
    card = page.locator(".card", has_text="Soft")
    expect(card.locator(".quality.weak")).to_contain_text("quality")
    expect(card.locator(".quality-problems")).to_have_text("the face is blurred")
    page.screenshot(path=str(OUTPUT / "ui-quality-cards.png"), full_page=True)

    page.goto(f"{live_server}/characters/{soft}")
    expect(page.locator(".warning.weak-face")).to_contain_text("This face may be recognised poorly")
    expect(page.locator(".warning.weak-face")).to_contain_text("the face is blurred")
    page.goto(f"{live_server}/characters/{small}")
    expect(page.locator(".warning .problems")).to_contain_text("Why: the face is small:")
    expect(page.locator(".warning .problems")).to_contain_text("40 or more works well")
    page.goto(f"{live_server}/characters/{team}")
    small_face = page.locator("#selector .face[title*='the face is small']").first
    expect(small_face).to_have_attribute("data-quality", re.compile(r"^\d+$"))
    small_face.hover()  # the sentence shows on the face a person points at
    expect(small_face.locator(".face-problem")).to_be_visible()
    expect(small_face.locator(".face-problem")).to_contain_text("the face is small")
    page.screenshot(path=str(OUTPUT / "ui-quality-selector.png"), full_page=True)
