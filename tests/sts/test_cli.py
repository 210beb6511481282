"""The `gridvend sts` command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gridvend.sts.cli import main

from .conftest import TEST_VUDK_HEX, VECTORS_PATH, load_vectors

KEY_ARGS = ["--meter", "00000000000", "--sgc", "123456", "--ti", "1", "--krn", "1"]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_check_vectors_passes_the_public_file():
    code, text = run("check-vectors", str(VECTORS_PATH))
    assert code == 0
    assert text.strip().splitlines()[-1] == "214 passed, 0 failed"


def test_check_vectors_reports_failures_and_unknown_kinds(tmp_path: Path):
    vectors = load_vectors()[:3]
    vectors[0] = dict(vectors[0], expected="0000000000000000")
    vectors.append({"id": "odd", "kind": "class7", "inputs": {}, "expected": "1"})
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"vectors": vectors}))
    code, text = run("check-vectors", str(path))
    lines = text.strip().splitlines()
    assert code == 1
    assert lines[-1] == "2 passed, 2 failed"
    assert lines[0].startswith(f"FAIL {vectors[0]['id']} (dkga02): decoder key")
    assert lines[1].startswith("FAIL odd (class7): unknown kind")


def test_check_vectors_on_a_missing_file_fails(tmp_path: Path):
    code, text = run("check-vectors", str(tmp_path / "nope.json"))
    assert code == 1
    assert text.strip().endswith("0 passed, 1 failed")


def test_derive_key_prints_the_decoder_key_but_never_the_vending_key():
    code, text = run("derive-key", "--vending-key", TEST_VUDK_HEX, *KEY_ARGS)
    assert code == 0
    assert "decoder_key: E653341F9D5BF36F" in text
    assert "decoder_key_byte_reversed: 6FF35B9D1F3453E6" in text
    assert TEST_VUDK_HEX not in text.upper()


def test_derive_key_reads_the_vending_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("STS_TEST_VK", "abababababababab949494949494949401234567")
    code, text = run(
        "derive-key", "--vending-key-env", "STS_TEST_VK", "--dkga", "04", "--ea", "11",
        "--meter", "00000000000", "--sgc", "123457", "--ti", "1", "--krn", "1",
    )  # fmt: skip
    assert code == 0
    assert "decoder_key: F94B6ED353C3BFDB113E2D3A7EA3C41D" in text


def test_issue_credit_from_a_decoder_key():
    code, text = run(
        "issue", "--decoder-key", "E653341F9D5BF36F", "--amount", "0.1",
        "--issued-at", "2004-03-01T13:55Z", "--rnd", "5",
    )  # fmt: skip
    assert code == 0
    assert "token: 2371 6100 5011 8319 4197" in text
    assert "tid: 5871715" in text


def test_issue_engineering_token_from_a_vending_key():
    code, text = run(
        "issue", "--vending-key", TEST_VUDK_HEX, *KEY_ARGS, "--kind", "clear-credit",
        "--tid", "5910315", "--rnd", "5",
    )  # fmt: skip
    assert code == 0
    assert "digits: 29511990995826640868" in text
    assert TEST_VUDK_HEX not in text.upper()


def test_issue_with_sample_tables_differs_from_real_tables():
    args = ["issue", "--decoder-key", "0ABC12DEF3456789", "--amount", "25.6", "--tid", "1698595"]
    _, real = run(*args, "--rnd", "11")
    _, sample = run(*args, "--rnd", "11", "--tables", "sample")
    assert "digits: 29054347139309851356" in real
    assert "digits: 51043465443420856213" in sample


def test_issue_test_token():
    code, text = run("issue", "--kind", "test", "--control", "FFFFFFF", "--four-digit-mfr")
    assert code == 0
    assert "digits: 02305843005052951967" in text


def test_decode_prints_fields_and_crc_validity():
    code, text = run("decode", "23716100501183194197", "--decoder-key", "E653341F9D5BF36F")
    assert code == 0
    assert "tid: 5871715" in text and "crc_valid: yes" in text
    code, text = run("decode", "23716100501183194197", "--decoder-key", "E94023262E9993C2")
    assert code == 1
    assert "crc_valid: no" in text


def test_decode_hides_key_material_of_key_change_tokens():
    code, text = run("decode", "51638423060042734509", "--decoder-key", "E653341F9D5BF36F")
    assert code == 0
    assert "kct_section: 1" in text and "key_word: <hidden>" in text
    assert "060B8643" not in text.upper()


def test_verify_meter_reports_validity_pan_and_manufacturer():
    code, text = run("verify-meter", "0100000000008")
    assert code == 0
    assert "pan: 000001000000000082" in text and "manufacturer_code: 0100" in text
    code, text = run("verify-meter", "01000000009")
    assert code == 1
    assert "METER_NUMBER_CHECK_DIGIT" in text


def test_bad_key_input_is_an_error_that_does_not_echo_the_key(capsys):
    bad = "ABABABABABABABAZ"
    code = main(["derive-key", "--vending-key", bad, *KEY_ARGS], out=io.StringIO())
    captured = capsys.readouterr()
    assert code == 2
    assert "KEY_INVALID" in captured.err
    assert bad not in captured.err and bad not in captured.out


def test_missing_parameters_are_reported(capsys):
    assert main(["issue", "--amount", "1", "--tid", "1"], out=io.StringIO()) == 2
    assert "PARAMETER_INVALID" in capsys.readouterr().err


def test_module_is_runnable_with_python_dash_m():
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "gridvend.sts", "verify-meter", "11111111115"],
        capture_output=True,
        text=True,
        cwd=repo,
        check=False,
    )
    assert done.returncode == 0
    assert "pan: 600727111111111153" in done.stdout


@pytest.mark.parametrize("argv", [[], ["nonsense"]])
def test_usage_errors_exit_with_argparse_status(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_non_numeric_amount_is_a_clean_error(capsys):
    argv = ["issue", "--decoder-key", "E653341F9D5BF36F", "--amount", "lots", "--tid", "1"]
    assert main(argv, out=io.StringIO()) == 2
    assert "AMOUNT_INVALID" in capsys.readouterr().err
