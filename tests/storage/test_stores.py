"""The two photo stores keep the same promises: a folder and an S3-compatible bucket (moto's
server, or LIKENESS_TEST_S3_URL), through the one interface every caller uses."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from likeness.identity.errors import ImageMissing, ImageOutsideStorage, ImageTooLarge
from likeness.storage import Store, get_store, in_project, unowned_keys
from tests import images

PHOTO = images.photo("yaoming.jpg").read_bytes()


@pytest.fixture(params=["folder", "bucket"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "bucket":
        request.getfixturevalue("bucket_storage")
    yield get_store()


def put(store: Store, project: str, data: bytes = PHOTO) -> str:
    with store.new_photo(project, ".jpg") as (key, out):
        out.write(data)
    return key


def test_a_photo_is_stored_read_listed_and_deleted_by_its_key(store: Store) -> None:
    key = put(store, "film")

    assert in_project(key, "film") and not in_project(key, "other")
    assert store.exists(key)
    with store.open(key) as photo:
        assert photo.read() == PHOTO
    assert key in [listed for listed, _ in store.listing()]

    store.delete([key])
    store.delete([key])  # already gone: fine

    assert not store.exists(key)
    with pytest.raises(ImageMissing, match=f"image not found: {key}"):
        store.open(key)


def test_a_failed_write_stores_nothing(store: Store) -> None:
    before = store.listing()
    with pytest.raises(RuntimeError), store.new_photo("film", ".jpg") as (_, out):
        out.write(PHOTO[:100])
        raise RuntimeError("the upload broke off")  # fault injection

    assert store.listing() == before


def test_a_photo_over_the_limit_is_refused_before_its_bytes_are_read(store: Store) -> None:
    key = put(store, "film")

    with pytest.raises(ImageTooLarge, match=f"over the limit of 1000: {key}"):
        store.open(key, max_bytes=1000)


@pytest.mark.parametrize("given", ["../escape.jpg", "film/../../escape.jpg", "/etc/passwd"])
def test_a_key_that_leads_out_of_the_store_is_refused(store: Store, given: str) -> None:
    with pytest.raises(ImageOutsideStorage):
        store.key_of(given)


def test_unowned_photos_are_those_no_row_names_and_not_new_ones(store: Store) -> None:
    owned, stray = put(store, "film"), put(store, "film")

    assert unowned_keys(store, [owned], older_than_s=-1) == [stray]
    assert unowned_keys(store, [owned]) == []  # both younger than an upload's grace
    store.delete([owned, stray])


def test_the_bucket_takes_its_own_s3_urls_and_refuses_others(bucket_storage: str) -> None:
    store = get_store()
    key = put(store, "film")

    assert store.key_of(f"s3://{bucket_storage}/studio/{key}") == key
    for foreign in (f"s3://{bucket_storage}/elsewhere/{key}", f"s3://other-bucket/studio/{key}"):
        with pytest.raises(ImageOutsideStorage):
            store.key_of(foreign)
    assert store.describe() == f"s3://{bucket_storage}/studio"
    assert time.time() - dict(store.listing())[key] < 60
