"""AuthRepo: staff (unique logins, at most three deputies), sessions with expiry, API tokens."""

from __future__ import annotations

import pytest

from safetynet.domain import Role
from safetynet.domain.roster import ApiToken, StaffError, StaffInputError
from safetynet.replies.notify import association_staff
from safetynet.store.rules import LAST_USED_EVERY_SECONDS

from .support import MATSU, NORTH, SAKURA, BreakWrites, StoreFactory, clock_of, seed


async def test_staff_are_added_read_and_removed(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        head = await store.auth.add_staff("head", "桜 会長", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", "pw-hash",
                                          contacts=[("mobile", "+819099990001"), ("telegram", "42")], language="en")
        assert (head.login, head.role, head.contacts, head.language, head.active) == (
            "head", Role.ASSOCIATION_HEAD, (("mobile", "+819099990001"), ("telegram", "42")), "en", True)
        admin = await store.auth.add_staff("admin", "市 管理者", Role.CITY_ADMIN, "city", None)
        assert await store.auth.staff_by_id(head.id) == head
        assert await store.auth.staff_by_id(10_000) is None
        assert await store.auth.staff_by_login("head") == (head, "pw-hash")
        assert await store.auth.staff_by_login("admin") == (admin, None)
        assert await store.auth.staff_by_login("nobody") is None
        assert [s.login for s in await store.auth.list_staff()] == ["head", "admin"]  # by role, scope, login
        assert await store.auth.count_city_admins() == 1
        await store.auth.create_session("sess-admin", admin.id, "csrf", 3600)
        await store.auth.create_session("sess-head", head.id, "csrf", 3600)
        assert await store.auth.set_password("admin", "new-hash")
        # whoever had the old password is logged out; nobody else is
        assert await store.auth.session("sess-admin") is None
        assert await store.auth.session("sess-head") is not None
        assert not await store.auth.set_password("nobody", "x")
        assert (await store.auth.staff_by_login("admin"))[1] == "new-hash"  # type: ignore[index]
        assert await store.auth.remove_staff("admin")
        assert not await store.auth.remove_staff("admin")
        assert await store.auth.count_city_admins() == 0


async def test_a_login_is_unique_and_an_association_has_at_most_three_deputies(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        await store.auth.add_staff("a", "A", Role.CITY_ADMIN, "city", None)
        with pytest.raises(StaffError, match="already exists"):
            await store.auth.add_staff("a", "A2", Role.DEPUTY, f"association:{SAKURA}", None)
        for i in range(3):
            await store.auth.add_staff(f"d{i}", f"D{i}", Role.DEPUTY, f"association:{SAKURA}", None)
        with pytest.raises(StaffError, match="3 deputies"):
            await store.auth.add_staff("d3", "D3", Role.DEPUTY, f"association:{SAKURA}", None)
        await store.auth.add_staff("d4", "D4", Role.DEPUTY, f"association:{MATSU}", None)  # another association
        await store.auth.remove_staff("d0")
        await store.auth.add_staff("d5", "D5", Role.DEPUTY, f"association:{SAKURA}", None)


async def test_heads_and_deputies_of_an_association_are_who_alerts_go_to(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        d = await store.auth.add_staff("dep", "D", Role.DEPUTY, f"association:{SAKURA}", None)
        h = await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        await store.auth.add_staff("other", "O", Role.ASSOCIATION_HEAD, f"association:{MATSU}", None)
        await store.auth.add_staff("district", "X", Role.DISTRICT_HEAD, f"district:{NORTH}", None)
        assert [s.id for s in await store.auth.staff_for_association(SAKURA, NORTH)] == [h.id, d.id]
        assert await store.auth.staff_for_association("無い町会", NORTH) == []


async def test_the_pure_reading_of_every_staff_member_finds_the_same_heads_and_deputies(
        store_factory: StoreFactory) -> None:
    """`notify.association_staff` (the city overview's reach check, on one `list_staff` read) and
    `staff_for_association` (the help alert's read) find the same people for every association."""
    async with store_factory() as store:
        await seed(store)
        await store.auth.add_staff("dep", "D", Role.DEPUTY, f"association:{SAKURA}", None, contacts=[("telegram", "1")])
        await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        await store.auth.add_staff("gone", "G", Role.DEPUTY, f"association:{SAKURA}", None)
        await store.auth.remove_staff("gone")
        await store.auth.add_staff("other", "O", Role.ASSOCIATION_HEAD, f"association:{MATSU}", None)
        await store.auth.add_staff("district", "X", Role.DISTRICT_HEAD, f"district:{NORTH}", None)
        await store.auth.add_staff("admin", "A", Role.CITY_ADMIN, "city", None, contacts=[("mobile", "+819011112222")])
        pure = association_staff(await store.auth.list_staff())
        assert set(pure) == {SAKURA, MATSU}
        for name in (SAKURA, MATSU, "無い町会"):
            read = await store.auth.staff_for_association(name, NORTH)
            assert sorted(pure.get(name, []), key=lambda s: s.id) == sorted(read, key=lambda s: s.id), name


async def test_staff_contacts_are_kind_and_address_rows(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        await seed(store)
        s = await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None,
                                       contacts=[("mobile", "+819099990001"), ("telegram", ""), ("mobile", "+819099990001")])
        assert s.contacts == (("mobile", "+819099990001"),)  # empty ones skipped, the same one once
        await store.auth.add_staff_contact(s.id, "webpush", '{"endpoint":"https://p/s"}')
        await store.auth.add_staff_contact(s.id, "telegram", "77")
        await store.auth.add_staff_contact(s.id, "telegram", "77")  # again: kept once
        await store.auth.add_staff_contact(s.id, "line", "U1234")  # any kind a channel may declare later
        want = (("mobile", "+819099990001"), ("webpush", '{"endpoint":"https://p/s"}'), ("telegram", "77"),
                ("line", "U1234"))
        assert (await store.auth.staff_by_id(s.id)).contacts == want  # type: ignore[union-attr]
        # the lists that send alerts carry them; a login does not need them
        assert [x.contacts for x in await store.auth.staff_for_association(SAKURA, NORTH)] == [want]
        assert [x.contacts for x in await store.auth.list_staff()] == [want]
        found = await store.auth.staff_by_login("head")
        assert found is not None and found[0].contacts == want
        assert await store.auth.remove_staff_contact(s.id, "telegram", "77")
        assert not await store.auth.remove_staff_contact(s.id, "telegram", "77")
        assert not await store.auth.remove_staff_contact(s.id, "mobile", "+819000000000")
        assert (await store.auth.staff_by_id(s.id)).contacts == (  # type: ignore[union-attr]
            ("mobile", "+819099990001"), ("webpush", '{"endpoint":"https://p/s"}'), ("line", "U1234"))
        other = await store.auth.add_staff("dep", "D", Role.DEPUTY, f"association:{SAKURA}", None)
        assert other.contacts == ()  # one member's contacts are theirs alone
        with pytest.raises(StaffError):
            await store.auth.add_staff_contact(10_000, "mobile", "+819099990002")
        # a changed phone replaces the old one of its kind; kinds not named stay; None removes a kind
        changed = await store.auth.set_staff_contacts(s.id, {"mobile": "+819011112222", "line": None})
        assert changed.contacts == (("webpush", '{"endpoint":"https://p/s"}'), ("mobile", "+819011112222"))
        assert (await store.auth.staff_by_id(s.id)).contacts == changed.contacts  # type: ignore[union-attr]
        await store.auth.add_staff_contact(s.id, "mobile", "+819033334444")  # two of a kind become one
        assert (await store.auth.set_staff_contacts(s.id, {"mobile": "+819055556666", "telegram": "88"})).contacts \
            == (("webpush", '{"endpoint":"https://p/s"}'), ("mobile", "+819055556666"), ("telegram", "88"))
        assert (await store.auth.set_staff_contacts(s.id, {})).contacts == (
            ("webpush", '{"endpoint":"https://p/s"}'), ("mobile", "+819055556666"), ("telegram", "88"))
        assert (await store.auth.staff_by_id(other.id)).contacts == ()  # type: ignore[union-attr]
        with pytest.raises(StaffError):
            await store.auth.set_staff_contacts(10_000, {"mobile": "+819099990002"})
        # a staff member removed takes their contacts along
        assert await store.auth.remove_staff("head")
        again = await store.auth.add_staff("head", "H", Role.ASSOCIATION_HEAD, f"association:{SAKURA}", None)
        assert again.contacts == ()


@pytest.mark.parametrize(
    ("scope", "exists"),
    [("city", True), (f"district:{NORTH}", True), ("district:無い地区", False), (f"association:{SAKURA}", True),
     ("association:無い町会", False), ("group:桜町/1班", False), ("nonsense", False)],
)
async def test_scope_exists(store_factory: StoreFactory, scope: str, exists: bool) -> None:
    async with store_factory() as store:
        await seed(store)
        assert await store.auth.scope_exists(scope) is exists


async def test_sessions_expire_and_end(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        s = await store.auth.add_staff("head", "H", Role.CITY_ADMIN, "city", None)
        await store.auth.create_session("sess-1", s.id, "csrf-1", ttl_seconds=60)
        await store.auth.create_session("sess-2", s.id, "csrf-2", ttl_seconds=600)
        assert await store.auth.session("sess-1") == (s, "csrf-1")
        assert await store.auth.session("unknown") is None
        await clock.advance(61)
        assert await store.auth.session("sess-1") is None
        await store.auth.delete_session("sess-2")
        assert await store.auth.session("sess-2") is None


async def test_a_removed_staff_members_sessions_end(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        s = await store.auth.add_staff("head", "H", Role.CITY_ADMIN, "city", None)
        await store.auth.create_session("sess", s.id, "csrf", ttl_seconds=600)
        await store.auth.remove_staff("head")
        assert await store.auth.session("sess") is None


async def test_removing_an_admin_names_the_tokens_they_made_that_still_work(store_factory: StoreFactory) -> None:
    """QA (privacy walk): a removed admin's API token kept working and nothing said so. Tokens stay (an
    integration's credential); the removal names the live ones: not revoked, not expired, theirs."""
    async with store_factory() as store:
        clock = clock_of(store)
        admin = await store.auth.add_staff("kanri", "K", Role.CITY_ADMIN, "city", None)
        other = await store.auth.add_staff("other", "O", Role.CITY_ADMIN, "city", None)
        feed = await store.auth.create_api_token("h-feed", Role.CITY_ADMIN, "city", created_by=admin.id)
        gone = await store.auth.create_api_token("h-gone", Role.CITY_ADMIN, "city", created_by=admin.id)
        await store.auth.create_api_token("h-week", Role.CITY_ADMIN, "city", expires_at=clock.now() + 60,
                                          created_by=admin.id)
        bot = await store.auth.create_api_token("h-bot", Role.CITY_ADMIN, "city", created_by=admin.id)
        theirs = await store.auth.create_api_token("h-other", Role.CITY_ADMIN, "city", created_by=other.id)
        await store.auth.create_api_token("h-cli", Role.CITY_ADMIN, "city")
        assert await store.auth.revoke_api_token(gone)
        await clock.advance(61)
        removal = await store.auth.remove_staff("kanri")
        assert removal is not None and removal.live_tokens == (feed, bot)
        assert await store.auth.api_token("h-feed") is not None  # still works: revoking is a person's call
        removal = await store.auth.remove_staff("other")
        assert removal is not None and removal.live_tokens == (theirs,)


async def test_a_removed_staff_members_id_is_never_given_to_another(store_factory: StoreFactory) -> None:
    """SQLite gave the next account the newest removed one's id: a removed admin's token was then listed
    as the newcomer's, and the two-person rule took the newcomer for its maker."""
    async with store_factory() as store:
        await store.auth.add_staff("admin", "A", Role.CITY_ADMIN, "city", None)
        kanri2 = await store.auth.add_staff("kanri2", "K", Role.CITY_ADMIN, "city", None)
        await store.auth.create_api_token("h-feed", Role.CITY_ADMIN, "city", created_by=kanri2.id)
        assert await store.auth.remove_staff("kanri2")
        newcomer = await store.auth.add_staff("suzuki", "S", Role.CITY_ADMIN, "city", None)
        assert newcomer.id > kanri2.id
        (token,) = await store.auth.list_api_tokens()
        assert await store.auth.staff_by_id(token.created_by or 0) is None  # its maker stays removed


async def test_api_tokens_work_until_revoked(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        now = store.clock.now()
        first = await store.auth.create_api_token("hash-1", Role.DISTRICT_HEAD, f"district:{NORTH}", "dashboard")
        second = await store.auth.create_api_token("hash-2", Role.CITY_ADMIN, "city")
        assert first != second
        assert await store.auth.api_token("hash-1") == ApiToken(first, Role.DISTRICT_HEAD, f"district:{NORTH}",
                                                                "dashboard", now)
        assert await store.auth.api_token("nope") is None
        assert await store.auth.revoke_api_token(first)
        assert not await store.auth.revoke_api_token(first)
        assert not await store.auth.revoke_api_token(10_000)
        assert await store.auth.api_token("hash-1") is None
        found = await store.auth.api_token("hash-2")
        assert found is not None and (found.id, found.role, found.scope, found.label) == (second, Role.CITY_ADMIN,
                                                                                          "city", "")
        # the list keeps revoked tokens, never a token itself
        listed = await store.auth.list_api_tokens()
        assert [(t.id, t.revoked_at) for t in listed] == [(first, now), (second, None)]


async def test_a_tokens_label_obeys_the_one_rule_in_the_store(store_factory: StoreFactory) -> None:
    """As a login: whichever way a token is made, a label with a control character or too long is refused."""
    async with store_factory() as store:
        await seed(store)
        for label in ("bot\x1b[31m", "x" * 201):
            with pytest.raises(StaffInputError):
                await store.auth.create_api_token(f"hash-{len(label)}", Role.CITY_ADMIN, "city", label)
        assert await store.auth.list_api_tokens() == []


async def test_an_api_token_stops_working_when_it_expires(store_factory: StoreFactory) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        until = clock.now() + 3600
        token_id = await store.auth.create_api_token("hash-1", Role.CITY_ADMIN, "city", "bot", expires_at=until)
        found = await store.auth.api_token("hash-1")
        assert found is not None and found.expires_at == until and found.usable(clock.now())
        await clock.advance(3599)
        assert await store.auth.api_token("hash-1") is not None
        await clock.advance(1)
        assert await store.auth.api_token("hash-1") is None
        (listed,) = await store.auth.list_api_tokens()
        assert (listed.id, listed.expires_at, listed.revoked_at) == (token_id, until, None)
        assert not listed.usable(clock.now())


async def test_a_tokens_last_use_is_written_at_most_once_a_minute(store_factory: StoreFactory,
                                                                  break_writes: BreakWrites) -> None:
    async with store_factory() as store:
        clock = clock_of(store)
        token_id = await store.auth.create_api_token("hash-1", Role.CITY_ADMIN, "city")
        other = await store.auth.create_api_token("hash-2", Role.CITY_ADMIN, "city")

        async def last_used() -> dict[int, float | None]:
            return {t.id: t.last_used_at for t in await store.auth.list_api_tokens()}

        assert await last_used() == {token_id: None, other: None}
        first = clock.now()
        await store.auth.token_used(token_id)
        assert await last_used() == {token_id: first, other: None}
        await clock.advance(LAST_USED_EVERY_SECONDS - 1)
        await store.auth.token_used(token_id)  # a dashboard polling: no write
        assert await last_used() == {token_id: first, other: None}
        await clock.advance(1)
        await store.auth.token_used(token_id)
        assert await last_used() == {token_id: clock.now(), other: None}
        # a store that cannot write does not fail the request that used the token
        await break_writes(store, True)
        await clock.advance(LAST_USED_EVERY_SECONDS)
        await store.auth.token_used(other)
        await break_writes(store, False)
        assert (await last_used())[other] is None


async def test_two_removals_of_one_person_at_once_remove_them_once(store_factory: StoreFactory) -> None:
    """Review: /admin and `staff remove` at once (PostgreSQL, read committed) both read the row, then both
    said they removed it: two audit entries, two log lines. The second finds nothing and says so."""
    import asyncio

    async with store_factory() as store:
        await store.auth.add_staff("twice", "Twice", Role.CITY_ADMIN, "city", None)
        done = await asyncio.gather(*(store.auth.remove_staff("twice") for _ in range(4)))
        assert sum(r is not None for r in done) == 1, done
        assert await store.auth.staff_by_login("twice") is None
