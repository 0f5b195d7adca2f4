"""Label selectors as apimachinery parses and matches them: what `kubectl get -l` and the API server accept."""

from __future__ import annotations

import pytest

from kubetext.selectors import SelectorError, parse

KEY_CHARS = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_CHARS = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', "
    r"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
WEB = {"app": "web", "tier": "frontend", "release": "3", "example.com/role": "db"}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("", WEB, True),
        ("   ", WEB, True),
        ("app=web", WEB, True),
        ("app==web", WEB, True),
        ("app=db", WEB, False),
        ("app=web", {}, False),
        ("app!=db", WEB, True),
        ("app!=web", WEB, False),
        ("app!=web", {}, True),
        ("app in (db,web)", WEB, True),
        ("app in (db)", WEB, False),
        ("missing in (x)", WEB, False),
        ("app notin (db)", WEB, True),
        ("app notin (web,db)", WEB, False),
        ("missing notin (x)", WEB, True),
        ("app", WEB, True),
        ("missing", WEB, False),
        ("!missing", WEB, True),
        ("!app", WEB, False),
        ("app=web,tier=frontend", WEB, True),
        ("app=web,tier=backend", WEB, False),
        ("  app = web ,\ttier in ( frontend , x ) ,\nrelease ", WEB, True),
        ("app in (web, db),release", WEB, True),
        ("tier in (x,frontend),app notin (db,cache),!missing", WEB, True),
        ("example.com/role=db", WEB, True),
        ("release>2", WEB, True),
        ("release<3", WEB, False),
        ("release>5", WEB, False),
        ("app>1", WEB, False),
        ("missing<9", WEB, False),
        ("x=", {"x": ""}, True),
        ("x=", {"x": "a"}, False),
        ("x==,y", {"x": "", "y": "1"}, True),
        ("x in (,a)", {"x": ""}, True),
        ("x in (a,)", {"x": ""}, True),
        ("x in (a,,b)", {"x": ""}, True),
        ("x in ()", {"x": ""}, True),
        ("x notin ()", {"x": "a"}, True),
        ("in in (in)", {"in": "in"}, True),
        ("app=in", {"app": "in"}, True),
        ("notin notin (notin)", {"notin": "x"}, True),
        ("a.b_c-d=V.1_x-Y", {"a.b_c-d": "V.1_x-Y"}, True),
        ("app=web", None, False),
        ("!app", None, True),
        ("app in (db, cache)", WEB, False),
        ("app notin (web)", WEB, False),
        ("missing notin (web)", WEB, True),
        ("missing in (web)", WEB, False),
        ("  app = web ,\ttier\n", WEB, True),
        ("release>3", WEB, False),
        ("release<4", WEB, True),
        ("missing<4", WEB, False),
        ("app=", {"app": ""}, True),
        ("app=", WEB, False),
        ("app in ()", {"app": ""}, True),
        ("app in (,web)", {"app": ""}, True),
        ("app in (db,)", {"app": ""}, True),
        ("example.com/owner=me", {"example.com/owner": "me"}, True),
    ],
)
def test_selectors_match_like_kubernetes(selector: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse(selector).matches(labels) is expected


BAD = [
    ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
    ("app in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
    ("app=web,", "found '', expected: identifier after ','"),
    ("app=web,,tier", "found ',', expected: identifier after ','"),
    (",app", "found ',', expected: !, identifier, or 'end of string'"),
    ("=web", "found '=', expected: !, identifier, or 'end of string'"),
    ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
    ("app!web", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
    ("app in web", "unable to parse requirement: found 'web' expected: '('"),
    ("app notin", "unable to parse requirement: found '' expected: '('"),
    ("app=web=x", "found '=', expected: ',' or 'end of string'"),
    ("app===web", "unable to parse requirement: found '=', expected: identifier"),
    ("app in (a) b", "found 'b', expected: ',' or 'end of string'"),
    ("app=(web)", "unable to parse requirement: found '(', expected: identifier"),
    ("!app=web", "found '=', expected: ',' or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("!!app", "unable to parse requirement: found '!', expected: identifier"),
    ("-app=x", 'unable to parse requirement: <nil>: Invalid value: "-app": name part must consist of alpha'),
    ("app-=x", 'unable to parse requirement: <nil>: Invalid value: "app-": name part must consist of alpha'),
    ("ünïcode=x", 'unable to parse requirement: <nil>: Invalid value: "ünïcode": name part must consist of al'),
    ("a/b/c=x", 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key must consist'),
    ("/app=x", 'unable to parse requirement: <nil>: Invalid value: "/app": prefix part must be non-empty'),
    ("example.com/=x", 'unable to parse requirement: <nil>: Invalid value: "example.com/": name part must be non-e'),
    ("Example.com/app=x", 'unable to parse requirement: <nil>: Invalid value: "Example.com/app": prefix part a lowerc'),
    ("x" * 64, 'unable to parse requirement: <nil>: Invalid value: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'),
    ("p" * 254 + "/app", 'unable to parse requirement: <nil>: Invalid value: "pppppppppppppppppppppppppppppppppppppp'),
    ("app=-web", 'unable to parse requirement: values[0][app]: Invalid value: "-web": a valid label must be '),
    ("app=" + "v" * 64, 'unable to parse requirement: values[0][app]: Invalid value: "vvvvvvvvvvvvvvvvvvvvvvvvvvvvv'),
    ("app in (ok,b@d)", 'unable to parse requirement: values[0][app]: Invalid value: "b@d": a valid label must be a'),
    ("replicas>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the "),
    ("replicas<", "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the v"),
    (
        "replicas>99999999999999999999",
        "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": for 'Gt', '",
    ),
]


@pytest.mark.parametrize(("selector", "message"), BAD)
def test_bad_selectors_get_apimachinerys_message(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(selector)
    assert str(info.value).startswith(message)


def test_a_selector_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Invalid value"):
        parse("-bad")


@pytest.mark.parametrize("selector", ["x" * 63, "example.com/" + "x" * 63, "a=" + "v" * 63, "a." * 126 + "a/b"])
def test_the_longest_keys_and_values_are_accepted(selector: str) -> None:
    assert parse(selector).requirements


def test_requirements_are_sorted_by_key_and_print_as_kubectl_does() -> None:
    assert str(parse("tier in (web,db),app!=x,!gone,x>1")) == "app!=x,!gone,tier in (db,web),x>1"


def test_label_selector_treats_missing_labels_as_empty() -> None:
    assert parse("!app").matches(None)
    assert not parse("app").matches(None)


@pytest.mark.parametrize(
    ("selector", "normalised"),
    [
        ("b=2,a=1", "a=1,b=2"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("a in (b, a, b)", "a in (a,b)"),
        ("a in (,b)", "a in (,b)"),
        ("!a", "!a"),
        ("a==b", "a==b"),
        ("n>5", "n>5"),
    ],
)
def test_label_selector_prints_like_go(selector: str, normalised: str) -> None:
    assert str(parse(selector)) == normalised


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a!b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("a,", "found '', expected: identifier after ','"),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (x,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a<=3", "unable to parse requirement: found '=', expected: identifier"),
        (
            "app:monolith",
            f'unable to parse requirement: <nil>: Invalid value: "app:monolith": name part {KEY_CHARS}',
        ),
        (
            "foo/",
            'unable to parse requirement: <nil>: Invalid value: "foo/": '
            f"name part must be non-empty; name part {KEY_CHARS}",
        ),
        ("/x", 'unable to parse requirement: <nil>: Invalid value: "/x": prefix part must be non-empty'),
        (
            "Example.com/x=1",
            f'unable to parse requirement: <nil>: Invalid value: "Example.com/x": prefix part {SUBDOMAIN}',
        ),
        (
            "a/b/c",
            f'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key {KEY_CHARS} '
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        (
            "x" * 64,
            f'unable to parse requirement: <nil>: Invalid value: "{"x" * 64}": name part must be no more than 63 bytes',
        ),
        ("a=-x", f'unable to parse requirement: values[0][a]: Invalid value: "-x": {VALUE_CHARS}'),
        (
            "a in (-x,ok,y-)",
            f'unable to parse requirement: [values[0][a]: Invalid value: "-x": {VALUE_CHARS}, '
            f'values[2][a]: Invalid value: "y-": {VALUE_CHARS}]',
        ),
        (
            "a<x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        ("a>-1", f'unable to parse requirement: values[0][a]: Invalid value: "-1": {VALUE_CHARS}'),
    ],
)
def test_bad_input_gets_the_servers_exact_message(selector: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse(selector)
    assert str(caught.value) == message
