"""``llmkit chat`` with no prompt, in a real pseudo-terminal (pexpect): the conversation,
its commands, several-line messages, saving and loading, and Ctrl-C stopping an answer
(on the real model) without ending the conversation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

PROMPT = ">>> "


def spawn(*args: str, timeout: float = 60) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmkit", "chat", *args],
        encoding="utf-8",
        timeout=timeout,
        dimensions=(40, 200),
    )
    child.expect_exact("/help for commands")
    child.expect_exact(PROMPT)
    return child


def say(child: pexpect.spawn, line: str, *expected: str) -> None:
    child.sendline(line)
    for text in expected:
        child.expect_exact(text)
    child.expect_exact(PROMPT)


def test_a_conversation_with_its_commands(tmp_path: Path):
    saved = tmp_path / "talk.json"
    child = spawn("-b", "mock")
    say(child, "hello there", "hello there")
    say(child, "/set temperature=0", "set temperature=0")
    say(child, "/set temperature=-1", "not set:")
    say(child, "/set", "options: temperature=0")
    say(child, "/system be brief", "system prompt set")
    say(child, "second question", "second question")
    say(child, f"/save {saved}", "saved 4 messages")
    say(child, "/clear", "conversation cleared")
    say(child, "/nonsense", "unknown command '/nonsense'")
    say(child, f"/load {saved}", "loaded 4 messages")
    say(child, "/help", "/save FILE")
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    data = json.loads(saved.read_text())
    assert data["system"] == "be brief" and data["options"] == {"temperature": 0}
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"] * 2
    assert data["messages"][3]["content"] == "second question"  # the echo of the question


def test_a_message_of_several_lines_and_ctrl_d(tmp_path: Path):
    saved = tmp_path / "lines.json"
    child = spawn("-b", "mock")
    child.sendline('"""first line')
    child.expect_exact("... ")
    child.sendline('second line"""')
    child.expect_exact("second line")
    child.expect_exact(PROMPT)
    say(child, f"/save {saved}", "saved 2 messages")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert json.loads(saved.read_text())["messages"][0]["content"] == "first line\nsecond line"


def test_a_saved_conversation_loads_from_the_command_line(tmp_path: Path):
    saved = tmp_path / "talk.json"
    saved.write_text(
        json.dumps(
            {
                "model": None,
                "system": "s",
                "options": {"seed": 3},
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "a"},
                ],
            }
        )
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "llmkit", "chat", "-b", "mock", "--load", str(saved)],
        encoding="utf-8",
        timeout=60,
    )
    child.expect_exact("loaded 2 messages")
    child.expect_exact(PROMPT)
    say(child, "/set", "options: seed=3")
    say(child, f"/load {tmp_path / 'missing.json'}", "not loaded:")
    child.sendline("/bye")
    child.expect(pexpect.EOF)


def test_piped_input_is_one_prompt():
    done = subprocess.run(
        [sys.executable, "-m", "llmkit", "chat", "-b", "mock"],
        input="piped words",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "piped words"


@pytest.mark.model
def test_ctrl_c_stops_the_answer_not_the_conversation(tmp_path: Path, smollm2_path: Path):
    saved = tmp_path / "stopped.json"
    child = spawn("-m", "smollm2", "-o", "temperature=0", "-o", "num_predict=3000", timeout=120)
    child.sendintr()  # at the prompt: a hint, not the end
    child.expect_exact("(use /bye or Ctrl-D to leave)")
    child.sendline("Write a very long story about a dragon who learns to cook.")
    child.expect_exact("learns to cook.\r\n")  # the terminal's echo of the line
    child.expect(r"\w+ \w+ \w+ \w+")  # the answer is streaming
    child.sendintr()
    child.expect_exact("(stopped)")
    child.expect_exact(PROMPT)
    say(child, f"/save {saved}", "saved 2 messages")
    child.sendline("/set num_predict=4")
    child.expect_exact(PROMPT)
    child.sendline("Say hello.")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    answer = json.loads(saved.read_text())["messages"][1]
    assert answer["role"] == "assistant" and len(answer["content"].split()) >= 3
