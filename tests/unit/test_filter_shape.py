from __future__ import annotations

import pytest

from dirsrvbeat.processors.filter_shape import filter_info, filter_shape


@pytest.mark.parametrize(("a", "b"), [
    ("(&(uid=bob)(objectClass=person))", "(&(uid=alice)(objectClass=person))"),
    ("(&(uid=bob)(objectClass=person))", "(&(objectclass=Person)(UID=alice))"),
    ("(|(cn=a*)(mail=x))", "(|(MAIL=y)(CN=zz*))"),
    ("(uid=a\\28b\\29)", "(uid=c)"),
])
def test_same_shape(a, b):
    assert filter_shape(a) == filter_shape(b)


@pytest.mark.parametrize(("a", "b"), [
    ("(cn=a*)", "(cn=*a)"),
    ("(cn=a)", "(cn=*)"),
    ("(&(a=1)(b=2))", "(|(a=1)(b=2))"),
    ("(a>=1)", "(a<=1)"),
])
def test_different_shape(a, b):
    assert filter_shape(a) != filter_shape(b)


@pytest.mark.parametrize(("flt", "shape", "components"), [
    ("(objectClass=*)", "(objectclass=*)", (("objectclass", "pres"),)),
    ("(&(objectClass=inetOrgPerson)(uid=user0488))", "(&(objectclass=?)(uid=?))",
     (("objectclass", "eq"), ("uid", "eq"))),
    ("(cn=ab*cd*)", "(cn=?*?*)", (("cn", "sub"),)),
    ("(!(nsroledn=cn=x,dc=y))", "(!(nsroledn=?))", (("nsroledn", "eq"),)),
    ("(cn:caseExactMatch:=Fred)", "(cn:caseexactmatch:=?)", (("cn", "ext"),)),
    ("(description=say \"hi\")", "(description=?)", (("description", "eq"),)),
    ("(createTimestamp>=20260101000000Z)", "(createtimestamp>=?)", (("createtimestamp", "ge"),)),
    ("(cn~=jon)", "(cn~=?)", (("cn", "approx"),)),
])
def test_shape_and_components(flt, shape, components):
    info = filter_info(flt)
    assert info.shape == shape
    assert info.components == components
    assert info.valid


def test_truncated_and_broken_filters_do_not_raise():
    assert filter_info("(&(uid=a)(cn=bbbb...").valid is False
    assert filter_info("(&(uid=a)(cn=bbbb...").shape.endswith("...")
    assert filter_info("((((").valid is False
    assert filter_info("").valid is False
