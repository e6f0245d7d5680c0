#!/usr/bin/env python3
"""Writes tests/data/chat-refs.json: reference renderings of chat templates by Python Jinja2, set up exactly
as Hugging Face transformers' `apply_chat_template` sets it up (transformers/utils/chat_template_utils.py):

    ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                  extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    filters['tojson'] = json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
    globals['raise_exception'], globals['strftime_now']
    template.render(messages=..., tools=None, documents=None, add_generation_prompt=..., bos_token=..., eos_token=..., **extra)

`strftime_now` is pinned to 2026-11-23 00:00:00 so the table is reproducible; tests/chat_refs.rs renders with
`ChatTemplate::with_date(2026, 11, 23)`.

Templates: the two real ones are read from the GGUF files fetched by scripts/fetch-models.sh (SmolLM2 and
Qwen2.5-Coder); the others are hand-written reproductions of well-known public templates (Llama 3, Llama 3.1,
Gemma 3 instruct, Mistral [INST], Phi-3, DeepSeek-R1, Qwen3) plus a synthetic template exercising every Jinja
feature modelvet promises to render like transformers. The reproductions are fixtures for Jinja features, not
byte-exact copies of the upstream files.

Usage: python3 scripts/gen-chat-refs.py [--models DIR] [--out tests/data/chat-refs.json]
Needs: Jinja2 (3.1.x), the `gguf` package.
"""

import argparse
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime(2026, 11, 23, 0, 0, 0)


class AssistantTracker(jinja2.ext.Extension):
    """transformers' `{% generation %}` tag; outside assistant-mask tracking it renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render_assistant"), [], [], body).set_lineno(lineno)

    def _render_assistant(self, caller):
        return caller()


def compile_template(text):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(text)


def render(text, messages, bos, eos, agp, extra):
    kwargs = {}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    kwargs.update(extra or {})
    ctx = {"messages": messages, "tools": None, "documents": None, "add_generation_prompt": agp}
    ctx.update(kwargs)
    return compile_template(text).render(**ctx)


def gguf_template(path):
    import gguf

    r = gguf.GGUFReader(path)
    f = r.fields["tokenizer.chat_template"]
    text = bytes(f.parts[f.data[0]]).decode()
    toks = r.fields["tokenizer.ggml.tokens"]

    def token(key):
        g = r.fields.get(key)
        if g is None:
            return None
        i = int(g.parts[g.data[0]][0])
        return bytes(toks.parts[toks.data[i]]).decode()

    return text, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")


# ---------------------------------------------------------------------------------------------------------
# Hand-written reproductions of public templates.

LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
    "+ message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

LLAMA31 = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

GEMMA3 = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

MISTRAL = r"""{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""

PHI3 = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
    "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

DEEPSEEK_R1 = (
    r"{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    r"{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    r"{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    r"{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}{%- else %}"
    r"{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}"
    r"{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    r"{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    r"{%- if message['role'] == 'assistant' and 'tool_calls' in message %}{%- set ns.is_tool = false -%}"
    r"{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}{%- if message['content'] is none %}"
    r"{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}"
    r"{%- else %}"
    r"{{'<｜Assistant｜>' + message['content'] + '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}"
    r"{%- endif %}{%- set ns.is_first = true -%}{%- else %}"
    r"{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}"
    r"{%- endif %}{%- endfor %}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}"
    r"{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}{%- if ns.is_tool %}"
    r"{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"
    r"{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"
    r"{% set content = content.split('</think>')[-1] %}{% endif %}"
    r"{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
    r"{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
    r"{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    r"{%- set ns.is_output_first = false %}{%- else %}"
    r"{{'<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}"
    r"{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"
    r"{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %}"
)

QWEN3 = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}
"""

# Everything modelvet promises to render like transformers, in one template: whitespace control with
# trim_blocks/lstrip_blocks, Python string and dict methods, printing of None/booleans/lists/dicts, tojson
# options, loop variables and controls, namespace, macros, the `generation` tag, filters, tests.
FEATURES = r"""{#- a comment at the start #}
{%- set ns = namespace(count=0, seen='') %}
{% for message in messages %}
    {% set ns.count = ns.count + 1 %}
    {% if message.role == 'system' %}{% continue %}{% endif %}
    {% if loop.first %}[first {{ loop.index }}/{{ loop.length }}]{% endif %}
<{{ message.role | upper }}:{{ loop.index0 }}:{{ loop.revindex0 }}>{{ message.content | trim }}
    {% if message.content.startswith('Hi') %} starts-with-Hi{% endif %}
    {% if message.content.endswith('?') %} ends-with-?{% endif %}
 strip=[{{ message.content.strip() }}] lstrip=[{{ message.content.lstrip() }}] rstrip=[{{ message.content.rstrip() }}]
 strip-chars=[{{ message.content.strip(' H?') }}]
 split={{ message.content.split() | length }}/{{ message.content.split(' ') | length }} last=[{{ message.content.split(' ')[-1] }}] limited={{ message.content.split(' ', 1) }}
 replace=[{{ message.content.replace('a', 'A') }}] title=[{{ message.content.title() }}] cap=[{{ message.content.capitalize() }}] lower=[{{ message.content.lower() }}]
 slice=[{{ message.content[:5] }}] rev=[{{ message.content[::-1] }}] in={{ 'a' in message.content }}
{% if loop.last %} [last]{% endif %}
{% if message.tool_calls is defined %} has-tools{% else %} no-tools{% endif %}
{% if message.name is not defined %} no-name{% endif %}
{% if message.content is string %} is-string{% endif %}
{% set ns.seen = ns.seen + message.role[0] %}

{% endfor %}
count={{ ns.count }} seen={{ ns.seen }} len={{ messages | length }} undefined-len={{ nothing | length }} undefined=[{{ nothing }}]
{% for k, v in meta.items() %}
 {{ k }}={{ v }}
{% endfor %}
keys={{ meta.keys() | list | join(',') }} values={{ meta.values() | list | length }} get={{ meta.get('missing', 'dflt') }} get2={{ meta.get('a') }} get3={{ meta.get('missing') }}
none={{ none }} true={{ true }} false={{ false }} list={{ [1, 'two', none, true, 'it\'s', "say \"hi\""] }} dict={{ {'k': 'v', 'n': 1.5, 'l': [1, 2]} }}
str={{ 3 | string }} {{ none | string }} {{ true | string }} {{ [1, 'a'] | string }} int={{ '42' | int + 1 }} float={{ 2.5 * 2 }} div={{ 7 / 2 }} floordiv={{ 7 // 2 }} mod={{ 7 % 3 }} pow={{ 2 ** 10 }}
json={{ meta | tojson }}
json4={{ meta | tojson(indent=4) }}
json2sorted={{ meta | tojson(indent=2, sort_keys=true) }}
jsonsep={{ meta | tojson(separators=(',', ':')) }}
jsonascii={{ meta.z | tojson(ensure_ascii=true) }}
jsonstr={{ 'a "quoted" \\ line\nnext' | tojson }} jsonempty={{ [] | tojson(indent=2) }}{{ {} | tojson(indent=2) }}
date={{ strftime_now('%Y-%m-%d %A %B %d %b %a %H:%M:%S %j %y %I %p %%') }} llama={{ strftime_now('%d %b %Y') }}
loop-break={% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}
loop-cycle={% for i in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}
{% generation %}generated {{ 1 + 2 }}{% endgeneration %}

{% macro m(x, y='d') %}({{ x }}|{{ y }}){% endmacro %}
macro={{ m(1) }}{{ m(2, y='e') }}
roles={{ messages | map(attribute='role') | join(',') }} users={{ messages | selectattr('role', 'equalto', 'user') | list | length }} not-users={{ messages | rejectattr('role', 'equalto', 'user') | list | length }}
first={{ (messages | first).role }} last={{ (messages | last).role }} cond={{ messages[0]['content'] if messages else 'empty' }}
default={{ undefined_var | default('dv') }} default-none={{ none | default('dn') }} default-bool={{ '' | default('de', true) }}
concat={{ 'a' ~ 1 ~ 'b' }} join={{ ['x', 'y'] | join }} reverse={{ [1, 2, 3] | reverse | list }} sort={{ [3, 1, 2] | sort }} unique={{ [1, 1, 2] | unique | list }}
items={{ meta.nested | items | list }} dictsort={{ meta.nested | dictsort }} upper={{ 'abc' | upper }} cap={{ 'hello world' | capitalize }} title={{ 'hello world' | title }}
replace={{ 'aaa' | replace('a', 'b') }} lengths={{ 'abc' | length }} {{ meta | length }} round={{ 2.567 | round(2) }} abs={{ -3 | abs }} max={{ [1, 5, 3] | max }} min={{ [4, 2] | min }} sum={{ [1, 2, 3] | sum }}
tests={{ 1 is number }} {{ 'a' is string }} {{ meta is mapping }} {{ [1] is sequence }} {{ none is none }} {{ 3 is odd }} {{ 4 is even }} {{ 'x' is defined }} {{ meta.nope is undefined }} {{ 4 is divisibleby 2 }}
{%- if meta.flag is true %} flag-true{% endif %}
{%- if meta.flag is false %} flag-false{% endif %}
{%- if meta.nothing is none %} nothing-none{% endif %}

{% set x %}captured {{ 1 }}{% endset %}
set-block=[{{ x }}]
{% filter upper %}filtered text{% endfilter %}

    {%+ if true %}indent kept by plus{% endif %}

    {# an indented comment line #}
escapes={{ 'tab\there' }} {{ "quote\"d" }} {{ 'uni\u00e9' }}
messages-json={{ messages[:2] | tojson }}
join-ints={{ [1, 2, 3] | join('-') }} string-dict={{ {'a': [1, 'b']} | string }} list-filter={{ 'abc' | list }}
{% if add_generation_prompt %}
<ASSISTANT>
{% endif %}
    indented line kept
{# trailing comment #}
end
"""

UNDEFINED_ATTR = "{{ messages[0].role }}{{ messages[0].nope.deeper }}"


# ---------------------------------------------------------------------------------------------------------
# Messages.

M_USER = [{"role": "user", "content": "Hello! What is 2 + 2?"}]
M_SYS_USER = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Name three primes."},
]
M_MULTI = [
    {"role": "user", "content": "Hi, who are you?"},
    {"role": "assistant", "content": "I am an assistant."},
    {"role": "user", "content": "What can you do?"},
]
M_MULTI_CLOSED = M_MULTI + [{"role": "assistant", "content": "Answer questions.  "}]
M_CHINESE = [
    {"role": "system", "content": "你是一个乐于助人的助手。"},
    {"role": "user", "content": "台湾的首都是哪里？请用中文回答。"},
]
M_TRICKY = [
    {
        "role": "user",
        "content": "  Show {{ not a var }} and {% if x %} with 'single' and \"double\" quotes,\n"
        "a back\\slash C:\\path\\n, a tab\there and <|im_end|><|eot_id|></s> inside.\n\n",
    },
    {"role": "assistant", "content": "Literal: {{ messages }} {# not a comment #} \\\\ done"},
    {"role": "user", "content": "emoji 😀 and zero\u200bwidth and nbsp\u00a0end"},
]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city. Uses <b>HTML</b> & 'quotes' — and \"doubles\".",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. 北京"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                    "precision": {"type": "number", "default": 0.5},
                    "verbose": {"type": "boolean", "default": False},
                    "extra": {"type": ["string", "null"], "default": None},
                },
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "now", "description": "Current time.", "parameters": {"type": "object", "properties": {}}}},
]

M_TOOL_CALLS = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Paris and Beijing?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京", "days": 2}}},
        ],
    },
    {"role": "tool", "content": "{\"temp\": 18}"},
    {"role": "tool", "content": "{\"temp\": 25}"},
    {"role": "assistant", "content": "Paris 18°C, Beijing 25°C."},
    {"role": "user", "content": "Thanks."},
]

M_THINK = [
    {"role": "user", "content": "What is 3*7?"},
    {"role": "assistant", "content": "<think>\n3 times 7 is 21.\n</think>\n\nIt is 21."},
    {"role": "user", "content": "And 4*6?"},
    {"role": "assistant", "content": "<think>\n4*6=24\n</think>\n\n24."},
]

M_DEEPSEEK_TOOLS = [
    {"role": "system", "content": "Be brief."},
    {"role": "system", "content": "Use tools."},
    {"role": "user", "content": "Time?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": "now", "arguments": "{}"}},
            {"type": "function", "function": {"name": "tz", "arguments": "{\"city\": \"Oslo\"}"}},
        ],
    },
    {"role": "tool", "content": "12:00"},
    {"role": "tool", "content": "CET"},
    {"role": "assistant", "content": "Noon CET."},
]

M_GEMMA_PARTS = [
    {"role": "system", "content": [{"type": "text", "text": "Describe images. "}]},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  What is this? "}]},
]

M_ASSISTANT_FIRST = [
    {"role": "assistant", "content": "I speak first."},
    {"role": "user", "content": "Hi."},
]

M_LLAMA_TOOL_CALL = [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
    {"role": "tool", "content": {"temp": -3, "sky": "snow"}},
    {"role": "assistant", "content": "It is -3 and snowing."},
]

META = {
    "a": 1,
    "z": "中文 <b>&</b> 'single' \"double\" \\ \u00e9 😀",
    "b": [1, 2.5, True, None, 1e-07, 1e20, 0.1, 100.0],
    "nested": {"y": "second", "x": "first"},
    "flag": True,
    "nothing": None,
}


def standard_cases(name, text, bos, eos, source):
    cases = [
        ("user_only", M_USER, True, None),
        ("system_user", M_SYS_USER, True, None),
        ("multi_turn", M_MULTI, True, None),
        ("multi_turn_closed_no_generation_prompt", M_MULTI_CLOSED, False, None),
        ("user_only_no_generation_prompt", M_USER, False, None),
        ("chinese", M_CHINESE, True, None),
        ("tricky_content", M_TRICKY, True, None),
    ]
    return [(f"{name}/{c}", source, text, bos, eos, m, agp, extra) for (c, m, agp, extra) in cases]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.environ.get("MODELVET_MODELS", os.path.expanduser("~/.cache/modelvet/models")))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "chat-refs.json"))
    args = ap.parse_args()

    smol_path = os.path.join(args.models, "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
    qwen_path = os.path.join(args.models, "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    smol, smol_bos, smol_eos = gguf_template(smol_path)
    qwen, qwen_bos, qwen_eos = gguf_template(qwen_path)
    smol_src = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf:tokenizer.chat_template"
    qwen_src = "qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf:tokenizer.chat_template"

    cases = []
    cases += standard_cases("smollm2", smol, smol_bos, smol_eos, smol_src)
    cases += standard_cases("qwen2.5-coder", qwen, qwen_bos, qwen_eos, qwen_src)
    cases += [
        ("qwen2.5-coder/tools", qwen_src, qwen, qwen_bos, qwen_eos, M_USER, True, {"tools": TOOLS}),
        ("qwen2.5-coder/tools_with_system", qwen_src, qwen, qwen_bos, qwen_eos, M_SYS_USER, True, {"tools": TOOLS}),
        ("qwen2.5-coder/tool_calls", qwen_src, qwen, qwen_bos, qwen_eos, M_TOOL_CALLS, True, {"tools": TOOLS}),
        ("qwen2.5-coder/empty_tools_list", qwen_src, qwen, qwen_bos, qwen_eos, M_USER, True, {"tools": []}),
    ]
    src = "fixture:llama3"
    cases += standard_cases("llama3", LLAMA3, "<|begin_of_text|>", "<|eot_id|>", src)
    src = "fixture:llama3.1"
    cases += standard_cases("llama3.1", LLAMA31, "<|begin_of_text|>", "<|eot_id|>", src)
    cases += [
        ("llama3.1/tools_in_user_message", src, LLAMA31, "<|begin_of_text|>", "<|eot_id|>", M_SYS_USER, True, {"tools": TOOLS}),
        ("llama3.1/tools_in_system", src, LLAMA31, "<|begin_of_text|>", "<|eot_id|>", M_SYS_USER, True, {"tools": TOOLS, "tools_in_user_message": False}),
        ("llama3.1/tool_call", src, LLAMA31, "<|begin_of_text|>", "<|eot_id|>", M_LLAMA_TOOL_CALL, True, {"date_string": "01 Jan 2025"}),
        ("llama3.1/tools_without_user_raises", src, LLAMA31, "<|begin_of_text|>", "<|eot_id|>", [{"role": "system", "content": "x"}], True, {"tools": TOOLS}),
    ]
    src = "fixture:gemma3-it"
    cases += standard_cases("gemma3-it", GEMMA3, "<bos>", "<eos>", src)
    cases += [
        ("gemma3-it/content_parts", src, GEMMA3, "<bos>", "<eos>", M_GEMMA_PARTS, True, None),
        ("gemma3-it/assistant_first_raises", src, GEMMA3, "<bos>", "<eos>", M_ASSISTANT_FIRST, True, None),
    ]
    src = "fixture:mistral-instruct"
    cases += standard_cases("mistral", MISTRAL, "<s>", "</s>", src)
    cases += [
        ("mistral/tool_role_raises", src, MISTRAL, "<s>", "</s>", [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}], True, None),
        ("mistral/no_bos_token", src, MISTRAL, None, "</s>", M_MULTI_CLOSED, False, None),
    ]
    src = "fixture:phi3"
    cases += standard_cases("phi3", PHI3, "<s>", "<|endoftext|>", src)
    src = "fixture:deepseek-r1"
    cases += standard_cases("deepseek-r1", DEEPSEEK_R1, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", src)
    cases += [
        ("deepseek-r1/thinking_history", src, DEEPSEEK_R1, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", M_THINK, True, None),
        ("deepseek-r1/tool_calls", src, DEEPSEEK_R1, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", M_DEEPSEEK_TOOLS, True, None),
    ]
    src = "fixture:qwen3"
    cases += standard_cases("qwen3", QWEN3, None, "<|im_end|>", src)
    cases += [
        ("qwen3/thinking_history", src, QWEN3, None, "<|im_end|>", M_THINK, True, None),
        ("qwen3/enable_thinking_false", src, QWEN3, None, "<|im_end|>", M_SYS_USER, True, {"enable_thinking": False}),
        ("qwen3/enable_thinking_true", src, QWEN3, None, "<|im_end|>", M_SYS_USER, True, {"enable_thinking": True}),
        ("qwen3/tool_calls", src, QWEN3, None, "<|im_end|>", M_TOOL_CALLS, True, {"tools": TOOLS}),
        (
            "qwen3/reasoning_content_field",
            src,
            QWEN3,
            None,
            "<|im_end|>",
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "\nthought\n"}],
            False,
            None,
        ),
    ]
    # Upstream reasoning templates, byte for byte as llama.cpp keeps them (models/templates/, newlines as LF):
    # the forced `<think>\n` of DeepSeek-R1 distills and QwQ, and Qwen3's `enable_thinking` switch.
    tdir = os.path.join(here, "..", "tests", "data", "chat-templates")
    for name, file, bos, eos in [
        ("upstream-r1-distill-qwen", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
        ("upstream-qwen3", "Qwen-Qwen3-0.6B.jinja", None, "<|im_end|>"),
        ("upstream-qwq", "Qwen-QwQ-32B.jinja", None, "<|im_end|>"),
    ]:
        with open(os.path.join(tdir, file), encoding="utf-8") as f:
            text = f.read()
        src = f"tests/data/chat-templates/{file}"
        cases += standard_cases(name, text, bos, eos, src)
        cases += [(f"{name}/thinking_history", src, text, bos, eos, M_THINK, True, None)]
        if name == "upstream-qwen3":
            cases += [
                (f"{name}/enable_thinking_false", src, text, bos, eos, M_SYS_USER, True, {"enable_thinking": False}),
                (f"{name}/enable_thinking_true", src, text, bos, eos, M_SYS_USER, True, {"enable_thinking": True}),
                (f"{name}/enable_thinking_false_chinese", src, text, bos, eos, M_CHINESE, True, {"enable_thinking": False}),
                (f"{name}/tool_calls", src, text, bos, eos, M_TOOL_CALLS, True, {"tools": TOOLS}),
            ]
    src = "fixture:features"
    cases += [
        ("features/multi_turn", src, FEATURES, "<s>", "</s>", M_SYS_USER + M_MULTI[1:], True, {"meta": META}),
        ("features/tricky", src, FEATURES, "<s>", "</s>", M_TRICKY, False, {"meta": META}),
        ("features/undefined_attribute_raises", "fixture:undefined-attr", UNDEFINED_ATTR, None, None, M_USER, True, None),
    ]

    out = []
    for name, source, text, bos, eos, messages, agp, extra in cases:
        entry = {
            "name": name,
            "template_source": source,
            "template": text,
            "bos_token": bos,
            "eos_token": eos,
            "messages": messages,
            "add_generation_prompt": agp,
            "extra": extra,
        }
        try:
            entry["expected"] = render(text, messages, bos, eos, agp, extra)
        except jinja2.exceptions.UndefinedError as e:
            entry["expected_error"] = True
            entry["error_kind"] = "undefined"
            entry["error_message"] = str(e)
        except jinja2.exceptions.TemplateError as e:
            entry["expected_error"] = True
            entry["error_kind"] = "raised"
            entry["error_message"] = str(e)
        out.append(entry)

    names = [e["name"] for e in out]
    assert len(names) == len(set(names)), "duplicate case names"
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for e in out if e.get("expected_error"))
    print(f"wrote {len(out)} cases ({errors} expected errors) to {os.path.relpath(args.out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
