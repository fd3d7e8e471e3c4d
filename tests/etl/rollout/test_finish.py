"""finish_rollout: the manifest (items, face values, validity, files) and the published folder."""

from __future__ import annotations

import etl.rollout as rollout
from etl.io.outbox import sha256_file
from tests.etl.rollout.helpers import DAY, grants_dir, manifest, write_users


def test_manifest_gives_items_face_values_and_validity(settings, program):
    write_users(settings, ["u1,active,2015-01-01,2022-12-30T10:00:00+09:00", "u2,active,2015-01-01,"])
    rollout.run_rollout(settings, program, DAY, run_id="test-run")
    m = manifest(settings)
    assert (m["program"], m["config_sha256"], m["run_id"]) == ("kakao-1015", program.sha256, "test-run")
    items = {i["code"]: i for i in m["bundles"]["relief_base_td"]["items"]}
    assert [i["code"] for i in m["bundles"]["relief_base"]["items"]] == [
        "emoticon_permanent",
        "emoticon_90d_1",
        "emoticon_90d_2",
        "makers_coupon_2000",
        "makers_coupon_3000",
    ]
    assert items["emoticon_permanent"]["validity"] == "permanent" and items["emoticon_permanent"]["valid_to"] is None
    for code in ("emoticon_90d_1", "emoticon_90d_2"):
        assert (items[code]["valid_from"], items[code]["valid_to"]) == ("2023-01-05", "2023-04-04")
    assert (items["talk_drawer_plus_1m"]["valid_from"], items["talk_drawer_plus_1m"]["valid_to"]) == (
        "2023-01-05",
        "2023-02-04",
    )
    assert (items["makers_coupon_2000"]["kind"], items["makers_coupon_2000"]["face_value_krw"]) == ("coupon", 2000)
    assert items["makers_coupon_3000"]["face_value_krw"] == 3000
    assert items["talk_drawer_plus_1m"]["face_value_krw"] == 990
    assert (m["bundles"]["relief_base"]["users"], m["bundles"]["relief_base_td"]["users"]) == (1, 1)
    assert m["items"]["emoticon_permanent"]["count"] == 2 and m["items"]["talk_drawer_plus_1m"]["count"] == 1
    # every file the manifest names is there with its rows and SHA-256, and nothing else
    folder = grants_dir(settings)
    assert set(m["files"]) == {p.name for p in folder.iterdir()} - {"manifest.json"}
    for name, entry in m["files"].items():
        assert sha256_file(folder / name) == entry["sha256"]
    assert oct(folder.stat().st_mode & 0o777) == "0o750"
    assert all(oct(p.stat().st_mode & 0o777) == "0o640" for p in folder.iterdir())
    assert not (settings.outbox / ".work" / f"grants-{DAY}").exists()  # staging removed
