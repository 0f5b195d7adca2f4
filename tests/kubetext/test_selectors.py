"""Label selectors as apimachinery parses and matches them: what `kubectl get -l` and the API server accept."""

from __future__ import annotations

import pytest

from kubetext.selectors import SelectorError, parse

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
