"""组织生活 and the information services: organizations publish policy notices, courses and jobs from
the staff side; residents read them and sign up through the linked form (a service order)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from qunti.db import db
from qunti.membership.models import InfoPost, InfoSignup
from qunti.orders.models import Order

from membership_helpers import decide, join, post_form, prove, setup_organizations, union_handler
from users import forget_request_state, login, make_user


@pytest.fixture
def publisher(app, ctx):
    setup_organizations()
    client = app.test_client()
    login(client, make_user("org_admin", organization="union"))
    return client


def publish(publisher, kind: str, **fields) -> InfoPost:
    response = publisher.post(f"/staff/info/{kind}/new", data={"publish": "1", **fields})
    assert response.status_code == 303, response.get_data(as_text=True)
    return db.session.scalar(select(InfoPost).order_by(InfoPost.id.desc()))


def test_each_kind_is_published_listed_and_shown(app, publisher):
    policy = publish(publisher, "policy", title="新就业形态劳动者入会政策解读", summary="快递员、网约车司机如何入会",
                     body="一、谁可以入会……")
    job = publish(publisher, "job", title="叉车司机 5 名", employer="重庆港城物流有限公司", pay="6000-8000 元/月",
                  place="港城工业园区", contact="023-67000000", form_id="job-information")
    course = publish(publisher, "course", title="电工技能培训（初级）", place="港城工业园区服务站",
                     starts_on="2026-12-01", form_id="skills-training")
    resident = app.test_client()
    overview = resident.get("/info/").get_data(as_text=True)
    for post in (policy, job, course):
        assert post.title in overview
        detail = resident.get(f"/info/{post.kind}/{post.id}").get_data(as_text=True)
        assert post.title in detail and "区总工会" in detail
    assert "6000-8000 元/月" in resident.get(f"/info/job/{job.id}").get_data(as_text=True)
    assert "我要报名" in resident.get(f"/info/course/{course.id}").get_data(as_text=True)
    assert "我要报名" not in resident.get(f"/info/policy/{policy.id}").get_data(as_text=True)
    assert resident.get(f"/info/policy/{job.id}").status_code == 404  # a job is not a policy


def test_drafts_and_withdrawn_posts_are_not_public(app, publisher):
    publisher.post("/staff/info/policy/new", data={"title": "草稿通知"})
    draft = db.session.scalar(select(InfoPost))
    resident = app.test_client()
    assert resident.get(f"/info/policy/{draft.id}").status_code == 404
    assert "草稿通知" not in resident.get("/info/policy").get_data(as_text=True)
    publisher.post(f"/staff/info/posts/{draft.id}/publish")
    assert resident.get(f"/info/policy/{draft.id}").status_code == 200
    publisher.post(f"/staff/info/posts/{draft.id}/withdraw")
    assert resident.get(f"/info/policy/{draft.id}").status_code == 404


def test_a_course_signup_is_a_service_order_through_the_generated_form(app, publisher):
    course = publish(publisher, "course", title="电工技能培训（初级）", form_id="skills-training")
    resident = app.test_client()
    page = resident.get(f"/info/course/{course.id}/signup").get_data(as_text=True)
    assert "技能培训报名" in page and "电工技能培训（初级）" in page
    fill = {"name": "王小芳", "phone": "15123456789", "community": "港城社区", "applicantCategory": "migrant_worker",
            "age": "30", "courses": "电工", "availableTimes": "周日", "consent": "y"}
    response = post_form(resident, f"/info/course/{course.id}/signup", fill)
    if response.status_code != 303:  # the form may want more; show what it said
        pytest.fail(response.get_data(as_text=True))
    signup = db.session.scalar(select(InfoSignup))
    assert signup.post_id == course.id
    order = db.session.scalar(select(Order).where(Order.submission_id == signup.submission_id))
    assert order is not None and order.service_item_code == "S06"
    listing = publisher.get(f"/staff/info/posts/{course.id}/signups").get_data(as_text=True)
    assert "王*芳" in listing and "151****6789" in listing
    assert "王小芳" not in listing and "15123456789" not in listing


def test_validation_and_scope_of_the_editor(app, publisher):
    bad = publisher.post("/staff/info/course/new", data={"title": "", "form_id": "skills-training"})
    assert bad.status_code == 422 and "请填写标题" in bad.get_data(as_text=True)
    bad = publisher.post("/staff/info/course/new", data={"title": "x", "starts_on": "明天"})
    assert bad.status_code == 422 and "须是日期" in bad.get_data(as_text=True)
    bad = publisher.post("/staff/info/course/new", data={"title": "x", "form_id": "no-such-form"})
    assert bad.status_code == 422 and "请选择报名表单" in bad.get_data(as_text=True)
    post = publish(publisher, "policy", title="工会政策")
    league_admin = app.test_client()
    login(league_admin, make_user("org_admin", organization="league"))
    assert league_admin.get(f"/staff/info/policy/{post.id}/edit").status_code == 404
    assert league_admin.post(f"/staff/info/posts/{post.id}/withdraw").status_code == 404
    assert "工会政策" not in league_admin.get("/staff/info/policy").get_data(as_text=True)
    for role in ("resident", "handler", "station_staff"):
        other = app.test_client()
        login(other, make_user(role))
        assert other.get("/staff/info/policy").status_code == 403, role
    forget_request_state()
    assert app.test_client().get("/staff/info/policy").status_code == 302  # to the login page


def test_members_see_their_organizations_life(client, app, publisher):
    publish(publisher, "life", title="港城工会主题活动日", member_organization="gangcheng-union", place="港城服务站")
    publish(publisher, "life", title="观音桥工会读书会", member_organization="guanyinqiao-union")
    number = join(client)
    decide(client, union_handler(), number)
    prove(client, number)
    card = client.get("/member/card").get_data(as_text=True)
    assert "港城工会主题活动日" in card and "观音桥工会读书会" not in card


SCRIPT = "<script>alert('x')</script>"


def test_typed_markup_is_shown_as_text_on_every_page(client, app, publisher):
    life = publish(publisher, "life", title=f"{SCRIPT}主题党日", summary="<b>加粗</b>", body="<img src=x onerror=alert(1)>",
                   place="<i>港城</i>", member_organization="gangcheng-union", form_id="organization-life")
    course = publish(publisher, "course", title=f"{SCRIPT}电工培训", form_id="skills-training")
    number = join(client)
    decide(client, union_handler(), number)
    prove(client, number)
    pages = {"/info/": app.test_client(), "/info/life": app.test_client(), f"/info/life/{life.id}": app.test_client(),
             f"/info/course/{course.id}/signup": app.test_client(), "/member/card": client,
             "/staff/info/life": publisher, f"/staff/info/life/{life.id}/edit": publisher,
             f"/staff/info/posts/{course.id}/signups": publisher}
    for path, reader in pages.items():
        forget_request_state()  # one app context for all the clients: drop the last one's user
        response = reader.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert SCRIPT not in html and "<b>加粗" not in html and "<img src=x" not in html and "<i>港城" not in html, path
        assert "&lt;script&gt;" in html, path
    detail = app.test_client().get(f"/info/life/{life.id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail and "&lt;i&gt;港城&lt;/i&gt;" in detail


def test_another_organizations_admin_cannot_change_a_post(app, publisher):
    post = publish(publisher, "life", title="港城工会主题活动日", member_organization="gangcheng-union")
    league_admin = app.test_client()
    login(league_admin, make_user("org_admin", organization="league"))
    attempts = [("post", f"/staff/info/life/{post.id}/edit", {"title": "改掉了", "publish": "1"}),
                ("post", f"/staff/info/posts/{post.id}/withdraw", {}),
                ("post", f"/staff/info/posts/{post.id}/publish", {}),
                ("get", f"/staff/info/posts/{post.id}/signups", None),
                ("get", f"/staff/info/life/{post.id}/edit", None)]
    for method, path, data in attempts:
        forget_request_state()
        assert getattr(league_admin, method)(path, data=data).status_code == 404, path
    db.session.expire_all()
    post = db.session.get(InfoPost, post.id)
    assert (post.title, post.withdrawn_at is None, post.organization) == ("港城工会主题活动日", True, "union")
    # Nor address a life post to another organization's members.
    refused = league_admin.post("/staff/info/life/new", data={"title": "团日活动", "member_organization": "gangcheng-union"})
    assert refused.status_code == 422 and "请选择基层组织" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(InfoPost)) == 1


def test_the_publisher_edits_and_a_system_admin_publishes_for_the_joint_meeting(app, publisher):
    post = publish(publisher, "policy", title="工会政策")
    assert publisher.post(f"/staff/info/policy/{post.id}/edit", data={"title": "工会政策（修订）"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(InfoPost, post.id).title == "工会政策（修订）"
    admin = app.test_client()
    login(admin, make_user("sys_admin"))
    assert admin.post("/staff/info/policy/new", data={"title": "三创圆梦政策汇编", "publish": "1"}).status_code == 303
    joint = db.session.scalar(select(InfoPost).where(InfoPost.title == "三创圆梦政策汇编"))
    assert joint.organization == "joint"
    assert "联席会" in app.test_client().get(f"/info/policy/{joint.id}").get_data(as_text=True)
    assert "工会政策（修订）" in admin.get("/staff/info/policy").get_data(as_text=True)  # sees every post


def test_sign_up_refusals_store_nothing(app, publisher):
    policy = publish(publisher, "policy", title="只读通知")
    course = publish(publisher, "course", title="电工培训", form_id="skills-training")
    resident = app.test_client()
    assert resident.get(f"/info/policy/{policy.id}/signup").status_code == 404  # nothing to sign up for
    assert resident.get(f"/info/life/{course.id}/signup").status_code == 404  # wrong kind in the address
    bad = post_form(resident, f"/info/course/{course.id}/signup", {"name": "王小芳", "phone": "12345", "consent": "y"})
    assert bad.status_code == 422 and "手机号" in bad.get_data(as_text=True)
    publisher.post(f"/staff/info/posts/{course.id}/withdraw")
    assert resident.get(f"/info/course/{course.id}/signup").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(InfoSignup)) == 0
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
