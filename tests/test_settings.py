from pathlib import Path

import pytest

from ragapp.settings import Settings, SettingsError


def test_defaults_fit_the_bundled_embedder_window():
    s = Settings.load(env={})
    assert s.store_dir == Path("data/store")
    assert s.model_path == "" and s.embed_model == ""  # empty means the bundled models
    assert s.chunk_size + 2 <= 256  # MiniLM reads 256 tokens including [CLS] and [SEP]


def test_environment_overrides_are_typed():
    s = Settings.load(env={"RAGAPP_STORE_DIR": "/tmp/x", "RAGAPP_TOP_K": "7", "RAGAPP_TEMPERATURE": "0.5"})
    assert s.store_dir == Path("/tmp/x") and s.top_k == 7 and s.temperature == 0.5


def test_toml_file_then_environment(tmp_path):
    config = tmp_path / "ragapp.toml"
    config.write_text('top_k = 3\nchunk_size = 120\nmodel_path = "/models/big.gguf"\n')
    s = Settings.load(config, env={"RAGAPP_TOP_K": "9"})
    assert s.top_k == 9  # the environment wins over the file
    assert s.chunk_size == 120 and s.model_path == "/models/big.gguf"


def test_bad_values_are_refused_with_the_setting_name(tmp_path):
    with pytest.raises(SettingsError, match="top_k"):
        Settings.load(env={"RAGAPP_TOP_K": "many"})
    with pytest.raises(SettingsError, match="chunk_overlap"):
        Settings.load(env={"RAGAPP_CHUNK_OVERLAP": "500"})
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'blue'\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load(bad, env={})


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for variable, _default, description in Settings.describe():
        assert description
        assert variable in readme, f"{variable} missing from the README table"


def test_where_the_vectors_are_is_one_setting_and_header_secrets_are_never_shown():
    assert Settings.load(env={}).chroma_place.mode == "local"
    assert Settings.load(env={"RAGAPP_CHROMA": "embedded"}).chroma_place.mode == "embedded"
    team = Settings.load(env={"RAGAPP_CHROMA_URL": "http://chroma.lan:8000/", "RAGAPP_CHROMA_HEADERS": "Authorization: Bearer s3cret; X-Team: kb"})
    place = team.chroma_place
    assert place.mode == "server" and place.url == "http://chroma.lan:8000"
    assert place.headers == (("Authorization", "Bearer s3cret"), ("X-Team", "kb"))
    assert "s3cret" not in str(team.shown()) and team.shown()["chroma_headers"] == "Authorization: ***; X-Team: ***"
    for env, words in [
        ({"RAGAPP_CHROMA": "cloud"}, "chroma must be 'local' or 'embedded'"),
        ({"RAGAPP_CHROMA_URL": "chroma.lan:8000"}, "chroma_url must be an http"),
        ({"RAGAPP_CHROMA_HEADERS": "no colon here"}, "chroma_headers"),
    ]:
        with pytest.raises(SettingsError, match=words):
            Settings.load(env=env)
