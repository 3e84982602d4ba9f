import pytest

from llmkit.chat_template import ChatTemplateError, ChatTemplateLimits, JinjaChatTemplate
from llmkit.types import Message, Tool

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_chatml_render():
    template = JinjaChatTemplate(CHATML)
    prompt = template.render([Message(role="user", content="Hi")])
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_tools_and_tool_calls_in_hf_shape():
    source = (
        "{{ tools[0]['function']['name'] }}|"
        "{{ messages[0]['tool_calls'][0]['function']['arguments'] | tojson }}"
    )
    template = JinjaChatTemplate(source)
    message = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"é": 1}}}]}
    )
    tool = Tool.model_validate({"function": {"name": "get"}})
    assert template.render([message], tools=[tool]) == 'get|{"é": 1}'


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.append(1) }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_untrusted_templates_cannot_run_code(attack):
    with pytest.raises(ChatTemplateError):
        JinjaChatTemplate(attack).render([Message(role="user", content="x")])


def test_syntax_error_names_the_line():
    with pytest.raises(ChatTemplateError, match="line 2"):
        JinjaChatTemplate("ok\n{% if %}")


def test_raise_exception_is_reported():
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        JinjaChatTemplate("{{ raise_exception('roles must alternate') }}").render([])


def test_python_errors_in_a_template_are_chat_template_errors():
    with pytest.raises(ChatTemplateError, match=r"line 2\): ZeroDivisionError"):
        JinjaChatTemplate("ok\n{{ 1 / 0 }}").render([])


def test_limits_bound_the_render():
    # Full list and the bombs: tests/faults/test_jinja_limits.py.
    template = JinjaChatTemplate(CHATML, limits=ChatTemplateLimits(max_output=60))
    assert template.render([Message(role="user", content="Hi")]).endswith("assistant\n")
    with pytest.raises(ChatTemplateError, match=r"ChatTemplateLimits\.max_output = 60"):
        template.render([Message(role="user", content="x" * 60)])
