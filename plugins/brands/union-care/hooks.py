"""情系职工: follows up closed hardship orders of workers, and adds a 职工之家 item to the 七有 checklist."""
from qunti import hookimpl
from qunti.plugin_api import ORDER_COMPLETED, checklist_item, followup

# The service menu's 困难帮扶 item, and the applicant categories the trade union serves.
HARDSHIP_ITEM = "S10"
WORKERS = frozenset({"migrant_worker", "employee", "freelancer"})


@hookimpl
def qunti_order_event(order, event):
    if (event["to_state"] == ORDER_COMPLETED and order["service_item_code"] == HARDSHIP_ITEM
            and order["applicant_category"] in WORKERS):
        return [followup("情系职工·四季帮扶回访",
                         "困难职工帮扶已办结：请在 30 日内回访，并视家庭情况纳入“四季帮扶”（春送岗位、夏送清凉、"
                         "金秋助学、冬送温暖）名单。")]
    return None


@hookimpl
def qunti_station_checklist_items():
    return [checklist_item("union-care-worker-home", "有“职工之家”服务角",
                           "设有职工休息、阅读、饮水、充电的固定区域，并公示工会法律援助电话。")]
